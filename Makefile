# slm-dispatch — `make demo` and `make test` are all a fresh machine needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
SPECIALIST ?= sql
DEMO_REQUEST ?= How many products are in each category? Then summarise the result. How many leads are rated Hot in Salesforce?

.PHONY: help install install-train setup demo test test-unit test-ollama test-durability lint bench load studio train eval data clean

help:
	@echo "make demo    install, set up, run one multi-part request on the embedded model"
	@echo "make test    install, set up, run every test (unit + integration)"
	@echo "make lint    ruff + mypy"
	@echo "make bench   latency / overhead figures on the embedded runtime"
	@echo "make load    concurrent-request throughput / latency / memory"
	@echo "make studio  serve the graph to LangGraph Studio (langgraph dev)"
	@echo "make data    regenerate the fine-tuning datasets and check them against the manifest"
	@echo "make train SPECIALIST=sql   fine-tune one specialist and install its adapter"
	@echo "make eval    prompted base vs fine-tuned specialists on the held-out sets"

# pip keeps the llama-cpp-python wheel it builds in its cache, so the ~6 minute
# compile happens once per machine.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The training extras (torch, transformers, peft, gguf). torch is installed first with its
# exact pin: that release lies on disk as a CPU build, a looser pin downloads a CUDA one.
$(TRAIN_STAMP): $(STAMP)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $(TRAIN_STAMP)

install-train: $(TRAIN_STAMP)

setup: install
	$(BIN)/slm-dispatch setup

# Without SF_* credentials the Salesforce sub-task runs against the offline sandbox org.
# Exit status 1 means the run finished but a sub-task could not be answered (the answer
# says why); only a set-up error fails the demo.
demo: setup
	$(BIN)/slm-dispatch ask --salesforce-sandbox "$(DEMO_REQUEST)" || [ $$? -eq 1 ]

test: setup install-train
	$(BIN)/pytest -ra

test-unit: install
	$(BIN)/pytest -ra tests/unit

# Against a real server: OLLAMA_HOST=http://host:11434 make test-ollama
test-ollama: setup
	$(BIN)/pytest -ra -m ollama tests/integration/test_ollama_serving.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m evals.bench
	$(BIN)/python -m evals.sql_bench
	$(BIN)/python -m evals.ollama_bench
	$(BIN)/python -m evals.salesforce_bench --model
	$(BIN)/python -m evals.summaries
	$(BIN)/python -m evals.chains

load: setup
	$(BIN)/python -m evals.load_test

test-durability: setup
	$(BIN)/pytest -q tests/integration/test_durability_processes.py tests/integration/test_faults.py \
	  tests/integration/test_concurrency_async.py tests/integration/test_durability_checkpoint_size.py

studio: setup
	$(BIN)/langgraph dev --no-browser

data: install
	$(BIN)/slm-dispatch data --check

train: setup install-train
	$(BIN)/slm-dispatch train $(SPECIALIST) --install

eval: setup install-train
	$(BIN)/slm-dispatch eval

clean:
	rm -rf .data .langgraph_api .pytest_cache .mypy_cache .ruff_cache
