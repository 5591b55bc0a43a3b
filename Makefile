# The two commands of the README. Both build the Debian 13 FEniCSx environment on first use
# (docker/env; a few minutes, once per machine).
ENV := docker/env
PYTEST := python3 -m pytest

.PHONY: demo test test-serial test-mpi check-env

## demo: mesh every shipped geometry and render a picture of the hexagonal RVE
demo:
	$(ENV) fe2 mesh meshes/*.geo --out build/meshes
	$(ENV) fe2 plot build/meshes/rve_hexagonal.msh --png build/demo/rve_hexagonal.png
	@echo "demo: meshes in build/meshes/, picture in build/demo/rve_hexagonal.png"

## test: the wrapper's own checks, the whole suite serially, then its parallel part on 2 ranks
test: check-env test-serial test-mpi

check-env:
	bash docker/check-env

test-serial:
	$(ENV) $(PYTEST)

test-mpi:
	$(ENV) mpirun -n 2 $(PYTEST) -m "not serial" -p no:cacheprovider --color=no

