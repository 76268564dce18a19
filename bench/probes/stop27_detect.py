"""Does engines.unsloth_decoding see unsloth's fast decoding on a model the kit loads (a new
adapter, as load_policy makes), and does drop_unsloth_plans find plans after a generate?"""
import os, sys, tempfile
from dataclasses import replace
from helpers.core.hardware import cuda_available, drop_unsloth_plans, free_memory
from helpers import inference, llm, preference
from helpers.llm import engines
engine = os.environ.get("DETECT_ENGINE", "unsloth")
cfg = llm.LLMConfig.smoke(model_name=str(llm.tiny.tiny_model_dir(tempfile.mkdtemp() + "/tiny")),
                          engine=engine, method="qlora" if cuda_available() else "lora")
model, tok = preference.load_policy(cfg)
print("### type", type(model).__name__, "base generate:", model.get_base_model().generate.__name__)
print("### unsloth_decoding", engines.unsloth_decoding(model))
print("### row tokens (100, 4)", engines.generation_row_tokens(model, 100, 4))
print("### batches", engines.generation_batches(model, [100, 120, 50], 4, 16))
prompts = ["가나다라 " * 10, "마바사 " * 5]
out = engines.get_engine(engine, load=False).generate(model, tok, prompts, inference.GenerationConfig(max_new_tokens=4), progress=False)
print("### generated", len(out))
del model
print("### plans cleared", drop_unsloth_plans(), "allocated after free", free_memory())
