import pytest

from helpers import prompts
from helpers.data import CCIRecord, Utterance, load_dcs, load_sc, sample_file


def _record(category="원인"):
    conv = [Utterance(1, "시험 망했어", "d.1.1"), Utterance(2, "헐 왜?", "d.1.2"), Utterance(1, "공부를 안 했어", "d.1.3")]
    return CCIRecord("x", conv, ["d.1.3"], category, "화자1은 공부를 했다.", "화자1은 공부를 안 했다.", "화자2가 시험을 봤다.", "inference_2")


@pytest.mark.parametrize("category, question", [
    ("원인", "위 대화의 원인으로 올바른 지문은?"),
    ("후행사건", "위 대화의 후행사건으로 올바른 지문은?"),
    ("전제", "위 대화의 전제로 올바른 지문은?"),
    ("동기", "위 대화의 동기로 올바른 지문은?"),
    ("반응", "위 대화의 반응으로 올바른 지문은?"),
])
def test_base_question_uses_the_right_particle(category, question):
    user = prompts.cci_messages(_record(category), "base")[1]["content"]
    assert question in user.splitlines()


def test_official_terms_and_definitions():
    rec = _record("전제")
    assert "위 대화의 전제 조건으로 올바른 지문은?" in prompts.cci_messages(rec, "official_terms")[1]["content"]
    definition = prompts.cci_messages(rec, "definition")[1]["content"]
    assert prompts.DEFINITIONS["전제"] in definition and "[Definition]" in definition
    instruction = prompts.cci_messages(_record("동기"), "instruction")[1]["content"]
    assert "[Question]" not in instruction and "내적 동기를 가장 잘 추론한" in instruction
    assert prompts.cci_messages(rec, "system")[0]["content"] != prompts.cci_messages(rec, "base")[0]["content"]


def test_every_style_marks_the_reference_and_lists_abc():
    for style in prompts.PROMPT_STYLES:
        user = prompts.cci_messages(_record(), style)[1]["content"]
        assert "[*] 화자1: 공부를 안 했어" in user and "화자1: 시험 망했어" in user
        assert "\nA. 화자1은 공부를 했다.\nB. 화자1은 공부를 안 했다.\nC. 화자2가 시험을 봤다." in user
    assert prompts.cci_answer(_record()) == "B"
    with pytest.raises(ValueError, match="unknown style"):
        prompts.cci_messages(_record(), "fancy")


def test_render_with_template_fallback_and_system_folding(tiny_llm_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    msgs = prompts.cci_messages(_record(), "base")
    text = prompts.render(tok, msgs)
    assert text.startswith("<|system|>\n") and text.endswith("<|assistant|>\n")
    tok.chat_template = None
    plain = prompts.render(tok, msgs)
    assert plain.startswith("### system:\n") and plain.endswith("### assistant:\n")
    tok.chat_template = "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}[{{ m['content'] }}]{% endfor %}"
    folded = prompts.render(tok, msgs)
    assert folded.startswith("[" + msgs[0]["content"] + "\n\n[Conversation]")


def test_generation_task_prompts_show_their_inputs():
    dcs = load_dcs(sample_file("dcs", "dev"))[0]
    user = prompts.dcs_messages(dcs)[1]["content"]
    assert f"화자{dcs.conversation[0].speaker}: " in user and dcs.subject_keyword[0] in user
    sc = load_sc(sample_file("sc", "dev"))[0]
    user = prompts.sc_messages(sc)[1]["content"]
    assert sc.sentence1 in user and sc.sentence3 in user and "(빈칸)" in user
