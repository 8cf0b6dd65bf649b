"""The local control plane jobsched builds and starts itself: etcd, kube-apiserver, kwok, and the
native kube-scheduler/kube-controller-manager baseline, from Go modules, without Docker."""
