"""A Run:ai project's names, as the tool derives them, and unique project names for test scenarios."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


class ProjectNames:
    """The names of a Run:ai project's release: namespace runai-<project>, release clearml-runai-<project>,
    and the ClearML queue its agent serves by default, runai-<project>."""

    project: str

    @property
    def namespace(self) -> str:
        return f"runai-{self.project}"

    @property
    def release(self) -> str:
        return f"clearml-runai-{self.project}"

    @property
    def queue(self) -> str:
        return f"runai-{self.project}"


@dataclass(frozen=True)
class Names(ProjectNames):
    """`names("team-a").namespace == "runai-team-a"`."""

    project: str


def names(project: str) -> Names:
    return Names(project)


def unique(prefix: str) -> str:
    """A name no other scenario uses (`prefix-` and six hex digits): a project, a namespace, a pool."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
