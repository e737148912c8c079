"""What a step reads about its container, from sample /proc and cgroup contents."""

from __future__ import annotations

from orchbench.containers.inside import container_id, memory_limit_bytes

CID = "3f" * 32
MOUNTINFO = (
    "610 590 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/x\n"
    f"620 610 8:1 /work/build/docker/containers/{CID}/hostname /etc/hostname rw - ext4 sda1 rw\n"
    f"621 610 8:1 /work/build/docker/containers/{CID}/hosts /etc/hosts rw - ext4 sda1 rw\n"
)


def test_container_id_from_the_hostname_bind_mount() -> None:
    assert container_id(MOUNTINFO) == CID
    assert container_id("25 1 0:23 / / rw - ext4 /dev/sda1 rw\n") is None


def test_memory_limit_from_memory_max() -> None:
    assert memory_limit_bytes("268435456\n") == 268435456
    assert memory_limit_bytes("max\n") is None
    assert memory_limit_bytes("512000000\n") == 512000000  # cgroup v1 limit_in_bytes
    assert memory_limit_bytes("9223372036854771712\n") is None  # cgroup v1: no limit
