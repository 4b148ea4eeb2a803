"""Benchmarks of clearml-runai-gen against the seed procedure it replaces; `make bench` runs them.

One module per concern, as in the generator: `config` (what is measured, and the targets), `timing`
(medians of interleaved runs), `inputs` (the fixture install and dumps of real upstream installs),
`seed` (the seed's pipelines), `cluster` (the local control plane), `imports` (`python -X importtime`),
`sections/` (one module per table), `report` (the tables and docs/benchmarks.md, generated from data).
"""
