"""The `fe2 mesh` command as a user runs it: batches, skipping, overrides, errors, XDMF."""

from __future__ import annotations

import os
import subprocess
import sys

import meshio
import numpy as np
import pytest
from conftest import MESHES, REPO

pytestmark = pytest.mark.serial  # runs subprocesses that mesh with gmsh

SQUARE = MESHES / "rve_square.geo"


def fe2(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fe2", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _inclusion_area(msh_path) -> float:
    """Area of the "inclusion" group, by the shoelace formula on the triangles' corners."""
    mesh = meshio.read(msh_path)
    tag = mesh.field_data["inclusion"][0]
    area = 0.0
    for block, tags in zip(mesh.cells, mesh.cell_data["gmsh:physical"], strict=True):
        if block.type.startswith("triangle"):
            p = mesh.points[block.data[tags == tag][:, :3], :2]
            e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
            area += 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()
    return area


def test_version_and_help():
    from fe2 import __version__

    assert fe2("--version").stdout.strip() == f"fe2 {__version__}"
    result = fe2("mesh", "--help")
    assert result.returncode == 0 and "--size-factor" in result.stdout


def test_broken_and_missing_files_fail_clearly_while_others_mesh(tmp_path):
    broken = tmp_path / "broken.geo"
    broken.write_text("Point(1) = {0, 0, 0};\nLine(1) = {1, 2};\n")  # point 2 is undefined
    no_domain = tmp_path / "no_domain.geo"
    no_domain.write_text("Point(1) = {0, 0, 0};\nPoint(2) = {1, 0, 0};\nLine(1) = {1, 2};\n")
    result = fe2("mesh", broken, SQUARE, tmp_path / "absent.geo", no_domain, "--out", tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("broken.geo" in ln and "FAILED" in ln and "control point 2" in ln for ln in lines)
    assert any("absent.geo" in ln and "no such file" in ln for ln in lines)
    assert any("no_domain.geo" in ln and "no physical group" in ln for ln in lines)
    assert any(ln.startswith("rve_square.geo") and "meshed" in ln for ln in lines)
    assert "1 of 4 files ok, 3 failed" in result.stdout
    assert (tmp_path / "rve_square.msh").exists() and not (tmp_path / "broken.msh").exists()


def test_up_to_date_outputs_are_skipped_until_source_or_options_change(tmp_path):
    geo = tmp_path / "cell.geo"
    geo.write_text(SQUARE.read_text())
    assert "meshed" in fe2("mesh", geo).stdout
    assert "up to date" in fe2("mesh", geo).stdout
    assert "meshed" in fe2("mesh", geo, "--size-factor", "2").stdout  # new options
    assert "up to date" in fe2("mesh", geo, "--size-factor", "2").stdout
    later = (tmp_path / "cell.msh").stat().st_mtime + 10
    os.utime(geo, (later, later))  # the source was edited after the mesh was made
    assert "meshed" in fe2("mesh", geo, "--size-factor", "2").stdout


def test_parameter_override_and_order_reach_the_mesh(tmp_path):
    result = fe2("mesh", SQUARE, "--out", tmp_path, "--set", "R=0.3", "--order", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    mesh = meshio.read(tmp_path / "rve_square.msh")
    assert {b.type for b in mesh.cells} >= {"triangle6", "line3"}
    # Inscribed polygon of the R = 0.3 circle: area within 2 % of pi R^2 (and far from R=0.25).
    assert _inclusion_area(tmp_path / "rve_square.msh") == pytest.approx(np.pi * 0.09, rel=0.02)


def test_unknown_parameter_and_bad_option_values_are_errors(tmp_path):
    result = fe2("mesh", SQUARE, "--out", tmp_path, "--set", "Radius=0.3")
    assert result.returncode == 1 and "unknown parameter(s) Radius" in result.stdout
    assert "the file defines:" in result.stdout and " R" in result.stdout
    assert fe2("mesh", SQUARE, "--set", "R").returncode == 2  # argparse: not NAME=VALUE
    assert fe2("mesh", SQUARE, "--size-factor", "-1").returncode == 2
    assert fe2("mesh", SQUARE, "--order", "3").returncode == 2


def test_xdmf_output_holds_cells_and_facets_with_tags(tmp_path):
    assert fe2("mesh", SQUARE, "--out", tmp_path, "--xdmf").returncode == 0
    msh = meshio.read(tmp_path / "rve_square.msh")
    cells = meshio.read(tmp_path / "rve_square.xdmf")
    facets = meshio.read(tmp_path / "rve_square_facets.xdmf")
    n_triangles = sum(len(b.data) for b in msh.cells if b.type == "triangle")
    n_lines = sum(len(b.data) for b in msh.cells if b.type == "line")
    assert sum(len(b.data) for b in cells.cells) == n_triangles
    assert sum(len(b.data) for b in facets.cells) == n_lines
    assert set(np.concatenate(cells.cell_data["physical"])) == {
        msh.field_data["matrix"][0], msh.field_data["inclusion"][0]}


def test_env_wrapper_propagates_the_exit_status():
    """docker/env returns the command's status (here it runs natively inside the stack)."""
    wrapper = REPO / "docker" / "env"
    assert subprocess.run([wrapper, "sh", "-c", "exit 3"]).returncode == 3
    result = subprocess.run([wrapper, "fe2", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("fe2 ")


def test_mesh_picture_is_written(tmp_path):
    from fe2.io.plot import plot_mesh

    assert fe2("mesh", SQUARE, "--out", tmp_path).returncode == 0
    plot_mesh(tmp_path / "rve_square.msh", tmp_path / "cell.png")
    import matplotlib.image

    pixels = matplotlib.image.imread(tmp_path / "cell.png")
    assert pixels.shape[:2] == (800, 1000)
    # A real picture: background, two phase colours, edges and text (a blank render has 1-2).
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 10


def test_case_meshes_of_the_repository_go_to_build_meshes(tmp_path):
    """A case's .geo from meshes/ is meshed into build/meshes/ of the repository (options in a
    sub-folder); any other .geo into build/meshes/ beside it (problems/README.md)."""
    from fe2.app.case import RVESettings
    from fe2.io.meshing import mesh_target

    target, _ = mesh_target(RVESettings(MESHES / "rve_square.geo"))
    assert target == REPO / "build" / "meshes" / "rve_square.msh"
    target, _ = mesh_target(RVESettings(MESHES / "rve_square.geo", parameters=(("R", 0.3),)))
    assert target == REPO / "build" / "meshes" / "R0.3" / "rve_square.msh"
    (tmp_path / "own.geo").write_text("")
    target, _ = mesh_target(RVESettings(tmp_path / "own.geo"))
    assert target == tmp_path / "build" / "meshes" / "own.msh"
    # A .geo of the repository outside meshes/ (a case folder's own) goes beside it (issue 16:
    # before, every .geo of the repository shared build/meshes/ and same names collided).
    own = REPO / "problems" / "mechanics" / "own.geo"
    target, _ = mesh_target(RVESettings(own))
    assert target == own.parent / "build" / "meshes" / "own.msh"


def _laminate_copies(tmp_path) -> list:
    """Two laminates of one name in two folders: layer fractions 0.3 and 0.5."""
    text = (MESHES / "rve_laminate.geo").read_text()
    sources = []
    for folder, fraction in (("a", 0.3), ("b", 0.5)):
        (tmp_path / folder).mkdir()
        geo = tmp_path / folder / "cell.geo"
        geo.write_text(text.replace("f = {0.5,", f"f = {{{fraction},"))
        sources.append((geo, fraction))
    return sources


def test_a_mesh_of_another_source_with_the_same_name_is_not_up_to_date(tmp_path):
    """a/cell.geo meshed into D, then b/cell.geo (same name, other geometry) into D. Before:
    "up to date", so b got a's mesh (a laminate of f = 0.3 read as 0.5). Now: the record keys
    the .msh by the source's path and a hash of its text and options: b is meshed, and a
    again after it."""
    (a, _), (b, _) = _laminate_copies(tmp_path)
    out = tmp_path / "D"
    assert "meshed" in fe2("mesh", a, "--out", out).stdout
    assert "up to date" in fe2("mesh", a, "--out", out).stdout
    result = fe2("mesh", b, "--out", out)
    assert result.returncode == 0 and "up to date" not in result.stdout, result.stdout
    assert "up to date" not in fe2("mesh", a, "--out", out).stdout


def test_same_names_in_one_batch_are_an_error(tmp_path):
    """`fe2 mesh a/cell.geo b/cell.geo --out D`: before, the second overwrote the first.
    Now: exit 2 naming both files, before anything is meshed."""
    (a, _), (b, _) = _laminate_copies(tmp_path)
    result = fe2("mesh", a, b, "--out", tmp_path / "D")
    assert result.returncode == 2 and "both mesh into" in result.stderr, result.stderr
    assert str(a) in result.stderr and str(b) in result.stderr
    assert not (tmp_path / "D").exists()
    # Beside their sources (no --out) they do not collide.
    assert fe2("mesh", a, b).returncode == 0
