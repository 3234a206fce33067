# hypercolumns — every target writes to results/ (tables, JSON, pictures) and
# work/ (weights, shards, models) and prints the paths it wrote.
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
DATA_ROOT   ?= ../shared/datasets
WORK        ?= work
RESULTS     ?= results
K           ?= 1 2 5 10
# torch: `pip install torch==2.13.0` takes the local CPU wheel here; elsewhere
# set TORCH_SPEC to the CUDA build you want (e.g. TORCH_SPEC='torch --index-url ...').
TORCH_SPEC  ?= torch==2.13.0
# a Dask scheduler (tcp://host:8786) for `features` and `train-grid`; empty: this machine
SCHEDULER   ?=

# your own data instead of DATA_ROOT (COCO instances JSON + image folder; VAL_* for eval-sds):
# make features train-grid eval-sds TRAIN_ANNOTATIONS=train.json TRAIN_IMAGES=imgs VAL_ANNOTATIONS=val.json VAL_IMAGES=imgs
TRAIN_ANNOTATIONS ?=
DATA_FLAGS = $(if $(TRAIN_ANNOTATIONS),--train-annotations $(TRAIN_ANNOTATIONS) --train-images $(TRAIN_IMAGES) \
    $(if $(VAL_ANNOTATIONS),--val-annotations $(VAL_ANNOTATIONS) --val-images $(VAL_IMAGES)),--data-root $(DATA_ROOT))

export HYPERCOLUMNS_CACHE ?= $(CURDIR)/$(WORK)/cache
HC := $(BIN)/hypercolumns

.PHONY: setup weights test demo data features train-grid eval-sds reproduce-table1 finetune train-bbox-reg \
        eval-keypoints eval-parts reproduce-table2 compare-quality \
        bench bench-synthetic gpu-wheels bench-gpu bench-engines-cv bench-shared compare-shared demo-own-data bench-features bench-inference bench-finetune bench-scale bench-large-image clean

setup: $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[weights,test]"
	$(MAKE) --no-print-directory weights

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

weights:
	$(HC) weights

test:
	$(BIN)/python -m pytest -q

data:
	$(HC) data --root $(DATA_ROOT)

# more `features` flags, e.g. FEATURES_FLAGS=--no-flips for the paper's training protocol
FEATURES_FLAGS ?=
features:
	$(HC) features $(DATA_FLAGS) --out $(WORK)/features $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
	    $(FEATURES_FLAGS)

train-grid:
	$(HC) train-grid --shards $(WORK)/features --out $(WORK)/models --K $(K) \
	    $(if $(SCHEDULER),--scheduler $(SCHEDULER))

eval-sds:
	$(HC) eval-sds $(DATA_FLAGS) --models $(WORK)/models --out $(RESULTS)/sds \
	    --shards $(WORK)/features --cv-work $(WORK)/sds-cv

reproduce-table1:
	$(HC) reproduce-table1 --data-root $(DATA_ROOT) --shards $(WORK)/features \
	    --models $(WORK)/models --work $(WORK)/table1 --finetuned $(WORK)/finetune \
	    --out $(RESULTS)/table1 --cv-work $(WORK)/sds-cv --projections $(RESULTS)/sds/summary.json

reproduce-table2:
	$(HC) reproduce-table2 --data-root $(DATA_ROOT) --models $(WORK)/models \
	    --only-global $(WORK)/table1/global/grid-K10.h5 --work $(WORK)/table2 --out $(RESULTS)/table2 \
	    --shards $(WORK)/features --cv-work $(WORK)/sds-cv --only-global-folds $(WORK)/table1/cross-val/Only_global \
	    --projections $(RESULTS)/sds/summary.json

eval-keypoints:
	$(HC) eval-keypoints --data-root $(DATA_ROOT) --work $(WORK)/keypoints --out $(RESULTS)/keypoints --viz

eval-parts:
	$(HC) eval-parts --data-root $(DATA_ROOT) --work $(WORK)/parts --out $(RESULTS)/parts \
	    --sds-model $(WORK)/models/grid-K10.h5 --viz

train-bbox-reg:
	$(HC) train-bbox-reg --data-root $(DATA_ROOT) --shards $(WORK)/features --out $(WORK)/models

finetune:
	$(HC) finetune --data-root $(DATA_ROOT) --model $(WORK)/models/grid-K10.h5 --out $(WORK)/finetune

demo: features train-grid eval-sds

# the engines section runs first; the others run the fastest engine that agreed in it (BENCH_ENGINE=torch: fp32)
BENCH_ENGINE ?= auto
bench:
	$(HC) bench --data-root $(DATA_ROOT) --model $(WORK)/models/grid-K10.h5 --shards $(WORK)/features \
	    --out $(RESULTS)/bench --engine $(BENCH_ENGINE)

# speed alone, without the shared data, the converted weights or shards (a lent GPU: see README, *On a GPU*)
SYNTHETIC_IMAGES ?= 24
bench-synthetic:
	$(HC) bench --synthetic $(SYNTHETIC_IMAGES) --sections engines,extraction,inference --engine auto \
	    --out $(RESULTS)/bench

# the same on a bare GPU machine with no venv (the device tool: carry .whl, run `make bench-gpu RESULTS=$$OUT`):
# its python3 has torch, h5py, opencv and scikit-image; pycocotools comes as a wheel from `make gpu-wheels` here
GPU_PYTHON ?= python3
GPU_SITE := /tmp/hypercolumns-site
GPU_WHEELS ?= .whl
gpu-wheels:
	python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    -d .whl pycocotools==2.0.11
	@echo "wheels for the GPU machine in .whl/: carry .whl"
bench-gpu:
	$(GPU_PYTHON) -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target $(GPU_SITE) $(GPU_WHEELS)/*.whl
	mkdir -p $(GPU_SITE)/hypercolumns
	for d in extract classifiers pipelines eval data; do ln -sfn $(CURDIR)/$$d $(GPU_SITE)/hypercolumns/$$d; done
	PYTHONPATH=$(GPU_SITE) PYTHONUNBUFFERED=1 $(GPU_PYTHON) -m hypercolumns.pipelines.commands.cli bench \
	    --synthetic $(SYNTHETIC_IMAGES) --sections engines,extraction,inference,shared --engine auto --out $(RESULTS)/bench

# engines' masks against fp32 torch's on the training images, by eval-sds's outer fold grids;
# ENGINES=torch-nchw,onnxruntime,torch-bf16 for others than the default reduced-precision ones
ENGINES ?=
bench-engines-cv:
	$(HC) bench --data-root $(DATA_ROOT) --model $(WORK)/models/grid-K10.h5 --shards $(WORK)/features \
	    --cv-work $(WORK)/sds-cv --sections engines-cv --out $(RESULTS)/bench $(if $(ENGINES),--engines $(ENGINES))

bench-shared:
	$(HC) bench-shared --data-root $(DATA_ROOT) --out $(RESULTS)/bench

# issue 10's shared whole-image features: their own shards and K=10 grid per candidate margin, then
# cost and AP^r of both modes in one run (the margin chosen by nested cross-validation on the training
# images; the per-box folds' grids are eval-sds's, in $(WORK)/sds-cv, trained there if missing)
SHARED_SCALE ?= 224
SHARED_MARGINS ?= 0 16
# issue 18's demo: the commands of README *Train on your own data* on coco128-seg written as COCO JSON
# (polygons), split by image into halves; the held-out half's ground-truth boxes jittered as oracle boxes
DEMO ?= $(WORK)/demo
DEMO_IMAGES = $(DATA_ROOT)/coco128-seg/images/train2017
demo-own-data:
	$(HC) yolo-to-coco --yolo $(DATA_ROOT)/coco128-seg --out $(DEMO)/train.json --holdout-out $(DEMO)/val.json
	$(HC) features --train-annotations $(DEMO)/train.json --train-images $(DEMO_IMAGES) --out $(DEMO)/features
	$(HC) train-grid --shards $(DEMO)/features --out $(DEMO)/models --K 10
	$(HC) oracle-boxes --annotations $(DEMO)/val.json --out $(DEMO)/oracle-boxes.json
	$(HC) segment --annotations $(DEMO)/val.json --image-root $(DEMO_IMAGES) --detections $(DEMO)/oracle-boxes.json \
	    --model $(DEMO)/models/grid-K10.h5 --out $(RESULTS)/demo/results.json --viz $(RESULTS)/demo/pictures
	$(HC) evaluate --annotations $(DEMO)/val.json --results $(RESULTS)/demo/results.json --json $(RESULTS)/demo/evaluate.json

compare-shared:
	for m in $(SHARED_MARGINS); do \
	    $(HC) features --data-root $(DATA_ROOT) --out $(WORK)/shared/margin$$m/features \
	        --shared-features $(SHARED_SCALE) --shared-margin $$m && \
	    $(HC) train-grid --shards $(WORK)/shared/margin$$m/features --out $(WORK)/shared/margin$$m/models \
	        --K 10 || exit 1; done
	$(HC) compare-shared --data-root $(DATA_ROOT) --per-box $(WORK)/models/grid-K10.h5 \
	    --shared $(foreach m,$(SHARED_MARGINS),$(WORK)/shared/margin$(m)/models/grid-K10.h5) \
	    --out $(RESULTS)/shared --per-box-shards $(WORK)/features --per-box-cv-work $(WORK)/sds-cv \
	    --shared-shards $(foreach m,$(SHARED_MARGINS),$(WORK)/shared/margin$(m)/features) \
	    --cv-work $(WORK)/shared/cross-val

# issue 20's mask-quality candidates: each training variant's shards (NAME:FLAGS of `features`, commas for
# spaces), then one nested cross-validation over them and every projection (the val images are not read),
# against the default shards (`make features`: mirrored boxes since this comparison chose them). paper: the
# paper's protocol (no flips); small32: boxes under 32 px (COCO's "small") get 48 px of context instead of
# 16. The run in the README had the paper's shards as default: FEATURES_FLAGS=--no-flips with
# QUALITY_VARIANTS='flips:--flips boxes8:--no-flips,--boxes-per-instance,8 small32:--no-flips,--small-box-context,32,48'
QUALITY_VARIANTS ?= paper:--no-flips boxes8:--boxes-per-instance,8 small32:--small-box-context,32,48
compare-quality:
	for v in $(QUALITY_VARIANTS); do name=$${v%%:*}; flags=$$(echo $${v#*:} | tr , ' '); \
	    $(HC) features --data-root $(DATA_ROOT) --out $(WORK)/quality/$$name/features $$flags || exit 1; done
	$(HC) compare-quality --data-root $(DATA_ROOT) --model $(WORK)/models/grid-K10.h5 --shards $(WORK)/features \
	    --cv-work $(WORK)/sds-cv --variants-work $(WORK)/quality --out $(RESULTS)/quality \
	    --variant $(foreach v,$(QUALITY_VARIANTS),$(firstword $(subst :, ,$(v)))=$(WORK)/quality/$(firstword $(subst :, ,$(v)))/features)

bench-features:
	$(HC) bench-features --data-root $(DATA_ROOT) --out $(RESULTS)/bench

bench-finetune:
	$(HC) bench-finetune --data-root $(DATA_ROOT) --model $(WORK)/models/grid-K10.h5 --out $(RESULTS)/bench

bench-inference:
	$(HC) bench-inference --data-root $(DATA_ROOT) --out $(RESULTS)/bench

bench-large-image:
	$(HC) bench-large-image --model $(WORK)/models/grid-K10.h5 --out $(RESULTS)/bench

SCALE_IMAGES ?= 16
bench-scale:
	$(HC) bench-scale --data-root $(DATA_ROOT) --out $(RESULTS)/bench --images $(SCALE_IMAGES)

clean:
	rm -rf $(RESULTS) $(WORK)/features $(WORK)/models $(WORK)/table1 $(WORK)/sds-cv
