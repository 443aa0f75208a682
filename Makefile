# Two entry points (see README): `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A test run gets its own DDS domain and never leaves the machine (REFERENCE.md 4).
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: demo test dataset clean-venv

$(VENV)/.installed: requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) -m ego4o_ros.tools.demo

dataset: $(VENV)/.installed
	$(PY) -m ego4o_ros.tools.build_dataset

test: $(VENV)/.installed
	ROS_DOMAIN_ID=$$(( ($$$$ % 100) + 100 )) $(PY) -m pytest -q test

clean-venv:
	rm -rf $(VENV)
