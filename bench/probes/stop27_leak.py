"""Which step of lesson 07's cell 16-17 keeps a model's 4-bit weights after everything is deleted?
Each phase loads and deletes; after each, what is still allocated, grouped by the kit frames
that allocated it, and what gc-visible tensor (and module global) holds it.

Run as in bench/results/SUMMARY.md (stop 27), before free_memory() dropped unsloth's plans:
re-run now, phase 4 no longer leaks (what the fix was for)."""
import gc, os, sys, tempfile, time
sys.path.insert(0, "bench")
from helpers.core.hardware import cuda_available, free_memory
assert cuda_available()
import torch
import gpu_lessons
space = {}
exec(gpu_lessons._PEAK, space)
torch.cuda.memory._record_memory_history(enabled="state", context="alloc", stacks="python")
from helpers import inference, lessons, preference, runtime

rt = runtime.setup(seed=42)
out = tempfile.mkdtemp(prefix="leak-")
dcs_train, dcs_dev = lessons.records("dcs", rt, n_train=24, n_dev=4)
gen = inference.GenerationConfig.for_task("dcs", max_new_tokens=64)
base = 0.0


def report(phase):
    global base
    gib = free_memory()
    print(f"### {phase}: {gib:.2f} GiB allocated (+{gib - base:.2f})", flush=True)
    if gib - base > 0.5:
        snapshot = torch.cuda.memory._snapshot()
        for g, cell, via in space["_kit_bench_where"](snapshot, __file__, top=4):
            print(f"###   {g:.2f} GiB via {via}", flush=True)
        groups = space["_kit_bench_groups"](snapshot, __file__)
        space["_kit_bench_owners"](max(groups.values(), key=lambda s: sum(x for _, x in s)), gc, torch)
        del snapshot, groups
        torch._dynamo.reset()
        print(f"###   after torch._dynamo.reset(): {free_memory():.2f} GiB", flush=True)
    base = free_memory()


t0 = time.time()
cfg = preference.settings(lessons.preset("dcs", rt, output_dir=os.path.join(out, "p")), "dpo", rt.smoke)
m, t = preference.load_policy(cfg)
del m, t
report("1 load_policy (new adapter), deleted")

m, t = preference.load_policy(cfg)
inference.generate_outputs(m, t, dcs_dev, gen)
del m, t
report("2 load_policy + generate_outputs, deleted")

adapter = lessons.ensure_trained(lessons.preset("dcs", rt, output_dir=os.path.join(out, "dcs")), dcs_train)
report("3 ensure_trained (train 24 records)")

m, t = preference.load_policy(cfg, adapter)
m.eval()
pairs = preference.preference_pairs(dcs_train[:8], t, m, generation=gen)
report_alloc = torch.cuda.memory_allocated() / 2**30
res = preference.dpo(cfg, pairs, beta=0.1, model=m, tokenizer=t, resume=False)
m = res.model
inference.generate_outputs(m, t, dcs_dev, gen)
del m, t, res
report("4 load_policy(adapter) + pairs + dpo + generate, deleted")
print(f"### done in {time.time() - t0:.0f} s", flush=True)
