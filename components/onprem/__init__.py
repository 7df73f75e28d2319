"""The on-prem target: an existing Kubernetes cluster gets object storage, an event bus, a warehouse and
certificate issuers in-cluster; nodes are not created, pools select existing nodes by label."""
