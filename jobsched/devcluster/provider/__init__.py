"""The provider simulator: plays a serverless provider (virtual-kubelet style) for the dev cluster's virtual
nodes, with a launch-rate token bucket, a pod quota and ProviderFailed refusals. `python -m
jobsched.devcluster.provider`; started by `jobsched dev-cluster up --virtual-launch-rate ...`."""
