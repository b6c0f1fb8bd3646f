# edgeyolo: `make demo` and `make test` create .venv and install everything first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# PyTorch is pinned: pip takes these builds from the local wheel cache on the project's machines.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
EXTRAS ?= train,onnx,openvino,ncnn,remote,tune,ray,dev,docs

.PHONY: install demo test lint clean docs docs-serve

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: install
	$(BIN)/edgeyolo run --profile x86-cpu --out demo

test: install
	.ci/system-packages
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check edgeyolo tests benchmarks
	$(BIN)/ruff format --check edgeyolo tests benchmarks

# The manual (docs/, mkdocs.yml): built into site/ with --strict, or served on 127.0.0.1:8000.
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: install
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

clean:
	rm -rf $(VENV) demo site .pytest_cache

# Container images (docker/, docs/guides/docker.md), built with podman, buildah or docker, whichever is
# present. BASE=... picks another base image; LOCAL_BASE=1 makes the cpu/rpi bases from Debian's packages
# (debootstrap, as root) where no image registry is reachable; RUNTIMES="onnxruntime openvino ncnn" adds NCNN
# to the cpu image (its default is the x86-cpu profile's ONNX Runtime and OpenVINO).
.PHONY: docker-cpu docker-rpi docker-train docker-jetson
docker-cpu docker-rpi docker-train docker-jetson:
	docker/build.sh $(@:docker-%=%)
