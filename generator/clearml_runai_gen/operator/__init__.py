"""The operator: a face of the same library `render` uses, that keeps every project's agent right.

Pure modules (`spec`, `status`, `objects`, `workqueue`, `auto`) import no client and are tested without a
cluster; `kube` is its only door to the API server and `run` its only import of kopf.
"""
