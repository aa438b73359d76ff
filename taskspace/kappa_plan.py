"""The kappa jobs of a plan: one per member of every feature space, and the combine (torch-free, reads nothing).

Every member of a feature space gets a job (rule ``kappa_member``) that reads its probe feature file once and
writes its sketch, ``results/<space>/kappa-members/<member>.h5`` (:func:`taskspace.kappa.sketch_member`): its
centred Gram when that is at most twice its features (n <= 2 d), else its item keys only. The space's combine
(rule ``kappa``) reads every sketch and the feature files of the members without a Gram, and takes the cheaper
form at the files' shapes.

Why decided at run time: n (the probe items every member kept) and the widths are known only after extraction,
so the member jobs are the same whichever form kappa takes; each decides from its own file's shape alone, so
that its output depends on nothing but its member. Adding a member to a computed space therefore adds one member
job and reruns the combine (and what reads kappa); the other members' jobs stay done.
"""

from __future__ import annotations

from dataclasses import dataclass

SKETCH_FOLDER = "kappa-members"
# The combine: 16 GB holds the paper's 34 language models' 7.9 GB cross-product matrix in one pass (60% of it is
# kappa's budget, taskspace.resources.MATRIX_SHARE).
COMBINE_MEM_MB = 16000
# A member job holds its file's vectors in float64 (2x a float32 file) and its Gram (at most 4x): 8x the file's
# bytes besides Python with numpy and h5py.
MEMBER_BASE_MB = 500
MEMBER_FILE_FACTOR = 8


def member_mem_mb(feature_bytes: int) -> int:
    """Memory a member job asks for, from its feature file's size in bytes."""
    return MEMBER_BASE_MB + int(MEMBER_FILE_FACTOR * feature_bytes / 2**20)


@dataclass(frozen=True)
class KappaPlan:
    """The kappa jobs of one plan: ``plan.kappa``."""

    plan: object  # taskspace.plan.Plan (not imported: plan imports this module)

    def members(self, space: str) -> list[str]:
        """A feature space's members, in kappa's row order."""
        return list(self.plan.feature_spaces[space])

    @property
    def member_names(self) -> list[str]:
        """Every member of every feature space (the ``member`` wildcard of rule kappa_member)."""
        return list(dict.fromkeys(m for members in self.plan.feature_spaces.values() for m in members))

    def sketch(self, space: str, member: str) -> str:
        return f"results/{space}/{SKETCH_FOLDER}/{member}.h5"

    def sketches(self, space: str) -> list[str]:
        return [self.sketch(space, member) for member in self.members(space)]

    def feature_files(self, space: str) -> list[str]:
        """Each member's probe feature file, in kappa's row order."""
        return [self.plan.member_probe_feature(space, member)[1] for member in self.members(space)]

    def inputs(self, space: str) -> dict[str, list[str]]:
        """What the combine reads: every member's sketch, and the rule inputs that hold the members' feature
        files (a zoo pass folder holds several members' files: listed once)."""
        features = [self.plan.member_probe_feature(space, member)[0] for member in self.members(space)]
        return {"sketches": self.sketches(space), "features": list(dict.fromkeys(features))}

    def jobs(self, space: str) -> dict[str, int]:
        """How many jobs of each kappa rule a space has: a member job per member and one combine."""
        return {"kappa_member": len(self.members(space)), "kappa": 1}
