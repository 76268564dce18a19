import torch

from helpers import pretrain


def test_ngram_masking_rate_spans_and_labels(kit_tok):
    hf = kit_tok.hf
    ids = [hf.cls_token_id] + list(range(100, 300)) + [hf.sep_token_id]
    collator = pretrain.NgramMaskingCollator(hf, seed=0)
    batch = collator([{"input_ids": ids, "token_type_ids": [0] * len(ids)}] * 4)
    labels, inputs = batch["labels"], batch["input_ids"]
    masked = labels != -100
    assert masked.sum(1).tolist() == [30] * 4                      # 15 % of 200 maskable tokens
    assert not masked[:, 0].any() and not masked[:, -1].any()     # never [CLS]/[SEP]
    assert (labels[masked] == torch.tensor(ids).expand(4, -1)[masked]).all()
    share_mask = (inputs[masked] == hf.mask_token_id).float().mean()
    assert 0.65 < share_mask < 0.95                                # 80 % become [MASK]
    runs = [len(r) for row in masked.tolist() for r in "".join("x" if m else "." for m in row).split(".") if r]
    assert max(runs) >= 2                                          # spans, not only single tokens


def test_sop_pairs_are_half_swapped_and_typed(kit_tok):
    docs = pretrain.shipped_documents()
    assert len(docs) > 100
    examples = pretrain.sop_examples(docs[:60], kit_tok, max_seq_length=64, seed=0)
    labels = [e["next_sentence_label"] for e in examples]
    assert 0.35 < sum(labels) / len(labels) < 0.65
    e = examples[0]
    assert len(e["input_ids"]) <= 64 and e["input_ids"].count(kit_tok.hf.sep_token_id) == 2
    assert e["token_type_ids"][0] == 0 and e["token_type_ids"][-1] == 1


def test_pretraining_loss_falls(kit_tok, tmp_path):
    from transformers import BertForPreTraining

    from helpers.korquad import tiny_bert_config
    from helpers.runtime import seed_everything

    seed_everything(0, threads=2)
    examples = pretrain.sop_examples(pretrain.shipped_documents()[:150], kit_tok, max_seq_length=64)
    cfg = pretrain.PretrainConfig(max_seq_length=64, batch_size=32, learning_rate=1e-3, max_steps=60)
    model = BertForPreTraining(tiny_bert_config(len(kit_tok), num_hidden_layers=2))
    log = pretrain.pretrain(model, kit_tok, examples, cfg, tmp_path / "bert")
    first, last = log[0]["loss"], log[-1]["loss"]
    assert last < first - 1.0, log
    assert (tmp_path / "bert" / "model.safetensors").is_file()
