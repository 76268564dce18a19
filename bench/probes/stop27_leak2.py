"""Lesson 07 cell 16-17's leak, step by step: the 4-bit weights that stay after load_policy(adapter)
+ pairs + dpo + generate. Does clearing unsloth's NF4 plans (quant_state._unsloth_*) free them?

Run as in bench/results/SUMMARY.md (stop 27), before free_memory() dropped unsloth's plans
(clear_plans here is what helpers.core.hardware.drop_unsloth_plans does now): re-run now, no
step leaks."""
import gc, os, sys, tempfile, time, types
sys.path.insert(0, "bench")
from helpers.core.hardware import cuda_available, free_memory
assert cuda_available()
import torch
import gpu_lessons
space = {}
exec(gpu_lessons._PEAK, space)
from helpers import inference, lessons, preference, runtime

rt = runtime.setup(seed=42)
out = tempfile.mkdtemp(prefix="leak2-")
dcs_train, dcs_dev = lessons.records("dcs", rt, n_train=24, n_dev=4)
gen = inference.GenerationConfig.for_task("dcs", max_new_tokens=64)
PLANS = ("_unsloth_nf4_plan", "_unsloth_gemv_plan", "_unsloth_gemv_rows")


def gib():
    return free_memory()


def chain_of(obj, steps=6):
    # the first non-frame referrer, repeatedly: what each step is
    seen = []
    for _ in range(steps):
        refs = [r for r in gc.get_referrers(obj) if not isinstance(r, types.FrameType) and r is not seen]
        desc = []
        for r in refs[:4]:
            if isinstance(r, dict):
                keys = [k for k, v in r.items() if v is obj][:2]
                desc.append(f"dict{keys}(len {len(r)})")
            else:
                desc.append(type(r).__qualname__)
        print(f"###     <- {desc}", flush=True)
        if not refs:
            return
        seen.append(obj)
        obj = refs[0]


def weights():
    return [o for o in gc.get_objects() if type(o).__name__ == "Params4bit" and o.is_cuda]


def clear_plans():
    n = 0
    for o in gc.get_objects():
        if type(o).__name__ == "QuantState":
            for name in PLANS:
                if getattr(o, name, None) is not None:
                    setattr(o, name, None)
                    n += 1
    return n


adapter = lessons.ensure_trained(lessons.preset("dcs", rt, output_dir=os.path.join(out, "dcs")), dcs_train)
cfg = preference.settings(lessons.preset("dcs", rt, output_dir=os.path.join(out, "p")), "dpo", rt.smoke)
base = gib()
print(f"### after ensure_trained: {base:.2f} GiB", flush=True)


def step(name, run_pairs, run_dpo, run_gen):
    m, t = preference.load_policy(cfg, adapter)
    m.eval()
    pairs = preference.preference_pairs(dcs_train[:8], t, m, generation=gen) if run_pairs else \
        preference.preference_pairs(dcs_train[:8], t, seed=0) if run_dpo else None
    if run_dpo:
        res = preference.dpo(cfg, pairs, beta=0.1, model=m, tokenizer=t, resume=False)
        m = res.model
        del res
    if run_gen:
        inference.generate_outputs(m, t, dcs_dev, gen)
    del m, t, pairs


for name, flags in [("load_policy(adapter) only", (0, 0, 0)), ("+ pairs (generate)", (1, 0, 0)),
                    ("+ pairs + dpo", (1, 1, 0))]:
    before = gib()
    step(name, *flags)
    after = gib()
    print(f"### {name}: +{after - before:.2f} GiB", flush=True)
    if after - before > 0.5:
        w = weights()
        print(f"###   {len(w)} Params4bit alive; chain from one:", flush=True)
        chain_of(w[0])
        del w
        n = clear_plans()
        print(f"###   cleared {n} unsloth plans: {gib():.2f} GiB allocated", flush=True)
