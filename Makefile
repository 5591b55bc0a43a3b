# The two commands of the README. Both build the Debian 13 FEniCSx environment on first use
# (docker/env; a few minutes, once per machine).
ENV := docker/env
PYTEST := python3 -m pytest

.PHONY: demo test test-serial test-mpi check-env validate

## demo: the FE² job of problems/mechanics/plate_hole_fe2.toml on 2 ranks (a plate with a hole made of an
## elasto-plastic fibre composite, loaded past first yield), after meshing every shipped .geo
demo:
	$(ENV) fe2 mesh meshes/*.geo --out build/meshes
	$(ENV) mpirun -n 2 fe2 run problems/mechanics/plate_hole_fe2.toml --out build/demo --overwrite
	@echo "demo: results in build/demo/ (field.png, load_curve.png, summary.json, fields.xdmf)"

## test: the wrapper's own checks, the whole suite serially, then its parallel part on 2 ranks
test: check-env test-serial test-mpi

check-env:
	bash docker/check-env

test-serial:
	$(ENV) $(PYTEST)

test-mpi:
	$(ENV) mpirun -n 2 $(PYTEST) -m "not serial" -p no:cacheprovider --color=no


## validate: the full-size cases with a published or closed-form answer, one table
## (case, quantity, ours, reference, difference); see bench/validate.py
validate:
	$(ENV) python3 bench/validate.py
