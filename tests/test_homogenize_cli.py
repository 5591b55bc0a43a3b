"""`fe2 homogenize`: the DESIGN §6 hexagonal case end to end, config errors, derived constants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MESHES, REPO, mesh_on_root
from mpi4py import MPI

from fe2.app.case import ConfigError, load_config
from fe2.app.cli import main
from fe2.laws.materials import IsotropicElastic
from fe2.physics.mechanics import mechanics_constants
from fe2.physics.transport import transport_constants

PROBLEMS = REPO / "problems"

# DESIGN §6 (comet-fenicsx periodic homogenization tour), plane strain, shear entry C1212.
PUBLISHED = np.array([[65551.0, 17441.0, 0.0], [17441.0, 65562.0, 0.0], [0.0, 0.0, 24062.0]])


def fe2(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fe2", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def distinct_colours(png: Path) -> int:
    import matplotlib.image

    pixels = matplotlib.image.imread(png)[..., :3].reshape(-1, 3)
    return len(np.unique((pixels * 255).round().astype(np.uint8), axis=0))


@pytest.fixture(scope="module")
def msh(tmp_path_factory) -> dict[str, Path]:
    """The hexagonal, laminate and porous-electrode RVEs meshed once (rank 0), stem → .msh."""
    comm = MPI.COMM_WORLD
    out = comm.bcast(str(tmp_path_factory.mktemp("homogenize")) if comm.rank == 0 else None)
    stems = ("rve_hexagonal", "rve_laminate", "rve_porous_electrode")
    reports = mesh_on_root([MESHES / f"{s}.geo" for s in stems], Path(out))
    assert all(r.ok for r in reports), [r.line() for r in reports]
    return {Path(r.source).stem: Path(r.output) for r in reports}


MECHANICS = """\
[rve]
mesh = "{mesh}"
degree = 2
bc = "periodic"

[physics]
kind = "mechanics"
model = "plane_strain"

[materials.matrix]
E = 50e3
nu = 0.2

[materials.inclusion]
E = 210e3
nu = 0.3
"""


# ----------------------------------------------------------------------------- end to end
@pytest.mark.serial  # subprocess; meshes into build/meshes of the repository
def test_hexagonal_case_matches_design_reference(tmp_path):
    out_json, out_png = tmp_path / "hex.json", tmp_path / "hex.png"
    result = fe2("homogenize", PROBLEMS / "mechanics" / "rve_hexagonal_periodic.toml",
                 "--json", out_json, "--png", out_png)
    assert result.returncode == 0, result.stderr
    assert "Mandel [11, 22, sqrt2*12]" in result.stdout and "nu" in result.stdout

    record = json.loads(out_json.read_text())  # --json output is valid JSON
    for key in ("tensor", "notation", "bc", "volume_fractions", "ndofs", "time_s",
                "engineering", "config", "mesh"):
        assert key in record, key
    assert record["bc"] == "periodic" and record["notation"] == "Mandel [11, 22, sqrt2*12]"
    C = np.array(record["tensor"])
    # Source: DESIGN §6 (comet-fenicsx tour); tolerance 0.5 % per nonzero entry. Mandel
    # stores the shear entry as 2·C1212.
    expected = PUBLISHED * np.array([[1, 1, 1], [1, 1, 1], [1, 1, 2]])
    nonzero = expected != 0
    assert np.allclose(C[nonzero], expected[nonzero], rtol=5e-3, atol=0), C
    # Zero entries (in-plane isotropy): |C13|, |C23| < 0.005·C11.
    assert np.all(np.abs(C[~nonzero]) < 5e-3 * C[0, 0]), C
    # Source: DESIGN §6, E ≈ 58235, ν ≈ 0.210; tolerance 0.5 %.
    assert record["engineering"]["E"] == pytest.approx(58235, rel=5e-3)
    assert record["engineering"]["nu"] == pytest.approx(0.210, rel=5e-3)
    # Source: meshes/README.md, inclusion fraction 0.1451 of the exact circle; the P1-geometry
    # polygon loses a little area: tolerance 1 %.
    assert record["volume_fractions"]["inclusion"] == pytest.approx(0.1451, rel=1e-2)

    assert out_png.stat().st_size > 0
    assert distinct_colours(out_png) > 10  # not blank: phases, colour map, text


@pytest.mark.serial  # subprocess
def test_bad_case_exit_status_and_message_from_the_command(tmp_path):
    case = tmp_path / "case.toml"
    case.write_text(MECHANICS.format(mesh=MESHES / "rve_hexagonal.geo")
                    .replace("nu = 0.2", "nu = 0.2\ncolour = 1"))
    result = fe2("homogenize", case)
    assert result.returncode == 2
    assert result.stderr.startswith("fe2 homogenize: error:")
    assert "[materials.matrix] unknown key 'colour'" in result.stderr, result.stderr
    assert str(case) in result.stderr


# ----------------------------------------------------------------------------- bad cases
BAD_CASES = {
    # name: (edit of the valid hexagonal case, words the message must contain)
    "unknown top-level key": (lambda t: "solver = 'lu'\n" + t,
                              ["unknown key 'solver'", "allowed keys: description, rve"]),
    "unknown key in [rve]": (lambda t: t.replace("degree = 2", "degre = 2"),
                             ["[rve] unknown key 'degre'", "degree"]),
    "unknown key in a material": (lambda t: t.replace("nu = 0.3", "poisson = 0.3"),
                                  ["[materials.inclusion] unknown key 'poisson'", "E, nu"]),
    "unknown bc": (lambda t: t.replace('"periodic"', '"dirichlet"'),
                   ["bc = 'dirichlet'", "periodic, affine, minimal"]),
    "unknown physics": (lambda t: t.replace('"mechanics"', '"acoustics"'),
                        ["kind = 'acoustics'", "mechanics, transport"]),
    "unknown model": (lambda t: t.replace('"plane_strain"', '"axisymmetric"'),
                      ["model = 'axisymmetric'", "plane_strain, plane_stress, 3d"]),
    "3d model on a 2D mesh": (lambda t: t.replace('"plane_strain"', '"3d"'),
                              ["model = '3d' needs a 3D mesh", "is 2D"]),
    "unknown phase": (lambda t: t.replace("materials.inclusion", "materials.fibre"),
                      ["unknown phase(s) ['fibre']", "['inclusion', 'matrix']"]),
    "missing material": (lambda t: t.split("[materials.inclusion]")[0],
                         ["missing material for phase(s) ['inclusion']"]),
    "negative E": (lambda t: t.replace("E = 210e3", "E = -1"),
                   ["[materials.inclusion]", "phase 'inclusion'", "must be positive"]),
    "nu out of range": (lambda t: t.replace("nu = 0.2", "nu = 0.5"),
                        ["phase 'matrix'", "(-1, 0.5)"]),
    "geo option on a .msh": (lambda t: t.replace("degree = 2", "degree = 2\nmesh_order = 2"),
                             ["mesh_order: only for a .geo"]),
    "not toml": (lambda t: t.replace("[physics]", "[physics"), ["not valid TOML"]),
}


def run_in_process(case: Path, capsys, *extra: str) -> tuple[int, str]:
    """``fe2 homogenize`` in this process; (exit status, stderr of rank 0)."""
    status = main(["homogenize", str(case), *extra])
    return status, capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_case_is_exit_status_2_naming_the_problem(msh, tmp_path, capsys, name):
    edit, words = BAD_CASES[name]
    case = tmp_path / "case.toml"
    case.write_text(edit(MECHANICS.format(mesh=msh["rve_hexagonal"])))
    status, err = run_in_process(case, capsys)
    assert status == 2
    if MPI.COMM_WORLD.rank == 0:  # only rank 0 prints
        assert err.startswith("fe2 homogenize: error:") and str(case) in err, err
        for word in words:
            assert word in err, (word, err)


def test_transport_phase_errors(msh, tmp_path):
    text = ('[rve]\nmesh = "{mesh}"\n[physics]\nkind = "transport"\nphases = {phases}\n'
            "[materials.electrolyte]\nD = 1.0\n{extra}")
    case = tmp_path / "case.toml"

    def check(phases: str, extra: str, words: list[str]) -> None:
        case.write_text(text.format(mesh=msh["rve_porous_electrode"], phases=phases,
                                    extra=extra))
        config = load_config(case)
        with pytest.raises(ConfigError) as error:
            config.check_mesh(["electrolyte", "particles"], 2)
        for word in words:
            assert word in str(error.value), (word, error.value)

    check('["electrolyte", "pores"]', "", ["[physics] phases: unknown phase(s) ['pores']"])
    check('["electrolyte", "particles"]', "",
          ["missing material for phase(s) ['particles']", "conducting"])
    check('["electrolyte"]', "[materials.particles]\nD = 2.0\n",
          ["['particles'] are not conducting"])
    case.write_text(text.format(mesh=msh["rve_porous_electrode"], phases='["electrolyte"]',
                                extra="").replace("D = 1.0", "D = 0"))
    with pytest.raises(ConfigError, match=r"\[materials.electrolyte\].*must be positive"):
        load_config(case)


@pytest.mark.serial  # meshes a .geo with a gmsh subprocess
def test_periodic_bc_on_a_non_periodic_mesh(tmp_path, capsys):
    # A unit square whose left side is meshed finer than its right side: nodes do not match.
    (tmp_path / "skewed.geo").write_text("""
Point(1) = {0, 0, 0, 0.1}; Point(2) = {1, 0, 0, 0.3};
Point(3) = {1, 1, 0, 0.3}; Point(4) = {0, 1, 0, 0.1};
Line(1) = {1, 2}; Line(2) = {2, 3}; Line(3) = {4, 3}; Line(4) = {1, 4};
Curve Loop(1) = {1, 2, -3, -4}; Plane Surface(1) = {1};
Physical Surface("matrix") = {1};
Physical Curve("bottom") = {1}; Physical Curve("right") = {2};
Physical Curve("top") = {3}; Physical Curve("left") = {4};
""")
    case = tmp_path / "case.toml"
    case.write_text(MECHANICS.format(mesh="skewed.geo").split("[materials.inclusion]")[0])
    status, err = run_in_process(case, capsys)
    assert status == 2
    assert "not periodic" in err and "affine or minimal" in err, err
    assert (tmp_path / "build" / "meshes" / "skewed.msh").exists()  # meshed beside the .geo
    # The affine BC needs no periodic mesh; a homogeneous cell returns its own stiffness
    # (DESIGN §6), up to round-off: tolerance 1e-8.
    case.write_text(case.read_text().replace('"periodic"', '"affine"'))
    out = tmp_path / "affine.json"
    assert main(["homogenize", str(case), "--json", str(out)]) == 0
    C = np.array(json.loads(out.read_text())["tensor"])
    own = IsotropicElastic(50e3, 0.2).matrix("plane_strain")
    assert np.allclose(C, own, rtol=1e-8, atol=1e-8 * own[0, 0])


def test_strain_of_the_wrong_length_is_an_error(msh, tmp_path, capsys):
    case = tmp_path / "case.toml"
    case.write_text(MECHANICS.format(mesh=msh["rve_hexagonal"]))
    status, err = run_in_process(case, capsys, "--strain", "1,0")
    assert status == 2
    if MPI.COMM_WORLD.rank == 0:
        assert "--strain has 2 values" in err and "3" in err, err


# ----------------------------------------------------------------------------- other cases
def test_laminate_case_is_exact(msh, tmp_path, capsys):
    """Source: DESIGN §6 exact laminate formulas (layers normal to x2); tolerance 1e-8."""
    text = (PROBLEMS / "mechanics" / "rve_laminate.toml").read_text()
    text = text.replace('"../../meshes/rve_laminate.geo"', f'"{msh["rve_laminate"]}"')
    text = text.replace("parameters = { f = 0.5 }", "")
    case = tmp_path / "laminate.toml"
    case.write_text(text)
    out = tmp_path / "laminate.json"
    assert main(["homogenize", str(case), "--json", str(out)]) == 0
    capsys.readouterr()
    if MPI.COMM_WORLD.rank > 0:
        return
    C = np.array(json.loads(out.read_text())["tensor"])
    layers = [IsotropicElastic(10e3, 0.3), IsotropicElastic(100e3, 0.2)]  # f = 0.5 each
    lam = np.array([m.E * m.nu / ((1 + m.nu) * (1 - 2 * m.nu)) for m in layers])
    mu = np.array([m.E / (2 * (1 + m.nu)) for m in layers])
    p = lam + 2 * mu
    c2222 = 1 / np.mean(1 / p)
    c1122 = np.mean(lam / p) * c2222
    c1111 = np.mean(p - lam**2 / p) + np.mean(lam / p) ** 2 * c2222
    c1212 = 1 / np.mean(1 / mu)
    expected = np.array([[c1111, c1122, 0], [c1122, c2222, 0], [0, 0, 2 * c1212]])
    assert np.allclose(C, expected, rtol=1e-8, atol=1e-8 * c1111)


def test_porous_electrode_transport_case(msh, tmp_path, capsys):
    text = (PROBLEMS / "transport" / "porous_electrode_transport.toml").read_text()
    case = tmp_path / "electrode.toml"
    case.write_text(text.replace('"../../meshes/rve_porous_electrode.geo"',
                                 f'"{msh["rve_porous_electrode"]}"'))
    out = tmp_path / "electrode.json"
    assert main(["homogenize", str(case), "--json", str(out)]) == 0
    capsys.readouterr()
    if MPI.COMM_WORLD.rank > 0:
        return
    record = json.loads(out.read_text())
    eng = record["engineering"]
    assert record["notation"] == "gradient [x, y]"
    # Source: meshes/README.md, porosity 0.4043 of the exact circles; polygonal P1 particles
    # are a little smaller: tolerance 2 %.
    assert eng["porosity"] == pytest.approx(0.4043, rel=2e-2)
    assert eng["porosity"] == pytest.approx(record["volume_fractions"]["electrolyte"])
    # Definition τ = ε D / D_eff (DESIGN §6), D = 1; the cell has square symmetry: τ_x = τ_y.
    D_eff = np.diag(record["tensor"])
    assert np.allclose(eng["tortuosity"], eng["porosity"] / D_eff, rtol=1e-12)
    assert eng["tortuosity"][0] == pytest.approx(eng["tortuosity"][1], rel=1e-6)
    assert 1 < eng["tortuosity"][0] < 1 / eng["porosity"]  # Wiener bound D_eff <= ε D


# ----------------------------------------------------------------------------- formulas
@pytest.mark.parametrize("model", ["plane_strain", "plane_stress", "3d"])
def test_engineering_constants_of_an_isotropic_material(model):
    """A homogeneous isotropic stiffness returns its own E, ν, μ (exact up to round-off)."""
    E, nu = 70e3, 0.33
    constants = mechanics_constants(IsotropicElastic(E, nu).matrix(model), model)
    assert constants["E"] == pytest.approx(E, rel=1e-12)
    assert constants["nu"] == pytest.approx(nu, rel=1e-12)
    assert constants["mu"] == pytest.approx(E / (2 * (1 + nu)), rel=1e-12)
    assert constants["anisotropy"] < 1e-12


def test_transport_constants_with_the_design_seed_example():
    """DESIGN §6: ε = 0.35, D_eff = D/5 ⇒ τ = 1.75 (exact)."""
    constants = transport_constants(np.eye(2) * 0.2, 0.35, 1.0)
    assert constants["tortuosity"] == pytest.approx([1.75, 1.75], rel=1e-12)
    assert constants["macmullin"] == pytest.approx([5.0, 5.0], rel=1e-12)
