"""Files on disk as Lambda counts them: a directory's files, their summed size, its size zipped (as SAM
uploads it), and sizes written in the unit of Lambda's limit. Used by the size benchmarks."""

from __future__ import annotations

from pathlib import Path

MB = 1024 * 1024  # Lambda's "250 MB" is 262,144,000 bytes: 250 × 2^20


def files(root: Path) -> list[Path]:
    """Every file (or symbolic link) below `root`, sorted."""
    return sorted(path for path in root.rglob("*") if path.is_file() or path.is_symlink())


def measured(root: Path) -> tuple[int, int]:
    """How many files `root` holds and their bytes, summed (the unzipped size)."""
    found = files(root) if root.is_dir() else []
    return len(found), sum(path.lstat().st_size for path in found)


def zipped_size(root: Path, directory: Path) -> int:
    """Bytes of `root` zipped with deflate (the archive is written in `directory`, then removed)."""
    import zipfile

    archive = directory / f"{root.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files(root):
            bundle.write(path, path.relative_to(root).as_posix())
    size = archive.stat().st_size
    archive.unlink()
    return size


def mb(size: int) -> str:
    """A table cell: MB (2^20 bytes), or kB for a function's own code of a few kB."""
    if size < MB // 10:
        return f"{size / 1024:,.1f} kB" if size else "0"
    return f"{size / MB:,.2f}" if size < 10 * MB else f"{size / MB:,.1f}"
