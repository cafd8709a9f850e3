"""The code's layout is the README's map (issue #14): rooms that exist, none too large, entry points on top.

The README's "How the code is laid out" table names every room of ``huikuan/``; a room
added or removed without the map fails here, as does a room that grows past a quarter
of the code, or a module below the entry points that imports ``deployments/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_FOLDERS = ("huikuan", "models", "flows", "tasks", "deployments")
ENTRY_POINTS = ("huikuan/cli/", "huikuan/stack.py")


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### How the code is laid out")
    return readme[start : readme.index("\n## ", start)]


def code_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py")) if "migrations" not in path.parts]


def test_every_room_of_huikuan_is_on_the_map_and_every_room_on_the_map_exists():
    section = layout_section()
    mapped = set(re.findall(r"`(huikuan/[a-z_]+(?:/|\.py))`", section))
    on_disk = {f"huikuan/{path.name}/" for path in (ROOT / "huikuan").iterdir() if (path / "__init__.py").is_file()}
    on_disk |= {f"huikuan/{path.name}" for path in (ROOT / "huikuan").glob("*.py") if path.name != "__init__.py"}
    assert on_disk == mapped, f"on disk, not on the map: {sorted(on_disk - mapped)}; on the map, not on disk: {sorted(mapped - on_disk)}"
    for folder in ("models/", "policies/", "flows/", "tasks/", "deployments/", "templates/", "tests/", "bench/"):
        assert f"`{folder}" in section, folder


def test_the_modules_the_map_points_to_exist():
    section = layout_section()
    for room, module in re.findall(r"`(huikuan/[a-z_]+/)`[^|]*\|[^|]*?\(`([a-z_]+\.py)`", section):
        assert (ROOT / room / module).is_file(), (room, module)
    assert (ROOT / "policies" / "handbook.yaml").read_text(encoding="utf-8").count("trigger: {days: 28}") >= 1


def test_no_room_holds_more_than_a_quarter_of_the_code():
    rooms: dict[str, int] = {}
    for path in python_files(*CODE_FOLDERS):
        parts = path.relative_to(ROOT).parts
        room = "/".join(parts[:2]) if parts[0] == "huikuan" and len(parts) > 2 else parts[0] if parts[0] != "huikuan" else "huikuan/" + parts[1]
        rooms[room] = rooms.get(room, 0) + code_lines(path)
    total = sum(rooms.values())
    too_large = {room: f"{lines / total:.0%}" for room, lines in rooms.items() if lines > total / 4}
    assert not too_large, too_large


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_entry_points_import_deployments_and_nothing_below_them_imports_the_entry_points():
    offenders = []
    for path in python_files(*CODE_FOLDERS):
        where = path.relative_to(ROOT).as_posix()
        if where.startswith(ENTRY_POINTS) or where.startswith("deployments/"):
            continue
        for module in imported_modules(path):
            if module.split(".")[0] == "deployments" or module.startswith(("huikuan.cli", "huikuan.stack")):
                offenders.append(f"{where} imports {module}")
    assert not offenders, offenders


def test_the_domain_imports_no_application_code():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files("models")
        for module in imported_modules(path)
        if module.split(".")[0] in ("huikuan", "flows", "tasks", "deployments", "prefect")
    ]
    assert not offenders, offenders


def test_the_demo_stays_out_of_the_product_s_paths():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files(*CODE_FOLDERS)
        if not path.relative_to(ROOT).as_posix().startswith(("huikuan/demo/", "huikuan/cli/"))
        for module in imported_modules(path)
        if module.startswith("huikuan.demo")
    ]
    assert not offenders, offenders
