// Plumbing shared by the control plane (ci/testenv) and KAI (ci/kai): both run their
// components as child processes of one foreground process (package proc) and issue their
// certificates from a CA of their own (package certs). Standard library only.
module github.com/clearml-runai/proc

go 1.25.0
