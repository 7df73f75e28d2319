"""What a stack is: the typed config (:mod:`.config`), the YAML loader (:mod:`.loader`), the one Pulumi
program (:mod:`.program`), the offline runner (:mod:`.offline`) and the example environments (``*.yaml``)."""
