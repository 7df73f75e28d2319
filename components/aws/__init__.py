"""The AWS target: one component per module (network, KMS, S3, SNS/SQS, Athena, EKS, node groups, IAM)."""
