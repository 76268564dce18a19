"""Seeded, learnable tiny tasks for smoke mode: a tiny model must be able to *learn* them on
two CPU cores in seconds, so a test can tell a working training path from a broken one.

    >>> qa = synthetic_qa(4, seed=0)
    >>> qa[0].context[qa[0].answers[0].answer_start:].startswith(qa[0].answers[0].text)
    True
"""

from __future__ import annotations

import random

from .data import Answer, QAExample
from .korean import has_final_consonant, with_particle

__all__ = ["synthetic_qa", "positional_baseline_qa", "vocabulary_texts", "synthetic_cci", "CCI_FORMS",
           "CCI_ANSWER_POSITION", "synthetic_dcs", "synthetic_sc", "synthetic_summary", "NAMES", "ATTRIBUTES"]

NAMES = ("민수", "지영", "서준", "하은", "도윤", "수아", "예준", "지우", "시우", "서연", "주원", "하린",
         "건우", "채원", "현우", "지아", "우진", "유나", "선우", "다은")
#: attribute -> possible values (nouns that the shipped text also uses)
ATTRIBUTES = {
    "고향": ("서울", "부산", "대구", "광주", "대전", "강릉", "전주", "제주", "인천", "수원"),
    "직업": ("교사", "의사", "기자", "요리사", "경찰", "가수", "작가", "농부", "군인", "화가"),
    "취미": ("등산", "낚시", "독서", "요리", "게임", "수영", "여행", "음악", "영화", "축구"),
    "반려동물": ("강아지", "고양이", "거북이", "토끼", "앵무새", "햄스터", "금붕어", "고슴도치"),
}


def synthetic_qa(n: int, seed: int = 42, facts: int = 4) -> list[QAExample]:
    """``n`` KorQuAD-style examples: a paragraph of ``facts`` sentences
    "<이름>의 <속성>은 <값>이다." (different people, different attributes) and a question
    about one of them.

    The model has to find the sentence whose name and attribute match the question and
    extract its value; answering the first sentence's value (the positional baseline) is
    right about ``1/facts`` of the time.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        people = rng.sample(NAMES, facts)
        sentences, spans = [], []
        pos = 0
        for name, attr in zip(people, rng.sample(list(ATTRIBUTES), facts)):
            value = rng.choice(ATTRIBUTES[attr])
            head = f"{name}의 {with_particle(attr, '은/는')} "
            sentence = f"{head}{value}{'이다' if has_final_consonant(value) else '다'}. "
            spans.append((name, attr, value, pos + len(head)))
            sentences.append(sentence)
            pos += len(sentence)
        name, attr, value, start = rng.choice(spans)
        context = "".join(sentences).strip()
        question = f"{name}의 {with_particle(attr, '은/는')} {'어디인가' if attr == '고향' else '무엇인가'}?"
        out.append(QAExample(f"synth-{seed}-{i}", "합성", context, question, [Answer(value, start)]))
    return out


def positional_baseline_qa(examples: list[QAExample]) -> dict[str, str]:
    """The trivial answer "the value in the first sentence" for every example."""
    preds = {}
    for ex in examples:
        first = ex.context.split(". ")[0]
        head_end = first.index(" ", first.index("의 ") + 2) + 1
        preds[ex.id] = first[head_end:].removesuffix("이다").removesuffix("다").rstrip(".")
    return preds


def vocabulary_texts(repeats: int = 3) -> list[str]:
    """Sentences using every name, attribute and value of the synthetic tasks, ``repeats``
    times each, so a vocabulary trained with them knows every word (min frequency 2)."""
    values = [v for vals in ATTRIBUTES.values() for v in vals]
    lines = [f"{name}의 {attr}" for name in NAMES for attr in ATTRIBUTES] + [f"{v}이다." for v in values]
    lines += [form.format(s=s, x=v) for form in CCI_FORMS.values() for s in (1, 2) for v in values[:3]]
    lines += [line for lines_ in TOPIC_LINES.values() for line in lines_] + list(STORY_MIDDLES.values())
    lines += [synthetic_summary(t) for t in TOPIC_LINES]
    return lines * repeats


# ----------------------------------------------------------------------------- multiple choice

#: One sentence form per inference type: the right option is the one written in the form
#: of the asked type, so a model has to read the question's type and the options.
CCI_FORMS = {
    "원인": "화자{s}가 {x} 때문이다.",
    "후행사건": "화자{s}는 곧 {x} 것이다.",
    "전제": "화자{s}는 이미 {x} 상태였다.",
    "동기": "화자{s}는 {x} 싶어서 말했다.",
    "반응": "화자{s}는 {x} 기분이 들었다.",
}
#: Chat lines by theme: a synthetic conversation talks in the theme of its category, so the
#: category shows all over the prompt, not in one word of the question only.
_CHAT = {
    "원인": ("버스를 놓쳐서 늦었어", "비가 와서 옷이 젖었어", "잠을 못 자서 피곤해", "배탈이 나서 결석했어"),
    "후행사건": ("내일 같이 영화 보자", "다음 주에 이사 간대", "곧 시험 결과 나온대", "이따가 장 보러 갈 거야"),
    "전제": ("벌써 표는 샀지", "이미 예약해 뒀어", "원래 여기 살았잖아", "전에 말해 둔 대로야"),
    "동기": ("살 빼고 싶어서 운동해", "칭찬받고 싶었나 봐", "돈 모으려고 아껴 써", "친해지고 싶어서 말 걸었어"),
    "반응": ("와 진짜 기쁘다", "너무 속상해", "완전 설레", "좀 무섭더라"),
}


#: Where the right option stands for each category in :func:`synthetic_cci`.
CCI_ANSWER_POSITION = {"원인": 0, "동기": 0, "후행사건": 1, "반응": 1, "전제": 2}


def synthetic_cci(n: int, seed: int = 42, split: str = "train"):
    """``n`` 대화 맥락 추론 records (official layout) that a tiny model can learn: a short
    chat, a referenced utterance, and three options in the sentence forms of three
    different inference types (:data:`CCI_FORMS`); the right option is the one in the form
    of the record's own category, and it stands where :data:`CCI_ANSWER_POSITION` puts it.

    The conversation talks in the theme of its category (``_CHAT``). So the answer follows
    from the prompt, never from the option order alone: a model that ignores the prompt
    scores at most 40 % (always A), chance is 1/3. Why so easy: a tiny *randomly
    initialised* model trained through LoRA adapters only (QLoRA) learns a signal spread
    over the prompt in a hundred steps, but did not learn to find one decisive word (the
    category in the question) or to match option forms within a few hundred steps on a
    CPU (full fine-tuning of the same model learned that in a hundred).
    """
    from .data import CCI_CATEGORIES, CCI_LABELS, CCIRecord, Utterance

    rng = random.Random(seed)
    values = [v for vals in ATTRIBUTES.values() for v in vals]
    out = []
    for i in range(n):
        doc = f"SYN{seed:04d}{i:06d}"
        category = rng.choice(CCI_CATEGORIES)
        turns = rng.randint(2, 4)
        conv = [Utterance(1 + t % 2, rng.choice(_CHAT[category]), f"{doc}.1.{t + 1}") for t in range(turns)]
        ref = conv[rng.randrange(turns)].utterance_id
        others = rng.sample([c for c in CCI_CATEGORIES if c != category], 2)
        answer = CCI_ANSWER_POSITION[category]
        kinds = others[:answer] + [category] + others[answer:]
        speaker = rng.choice((1, 2))
        options = [CCI_FORMS[k].format(s=speaker, x=rng.choice(values)) for k in kinds]
        out.append(CCIRecord(f"nikluge-2024-대화 맥락 추론-{split}-{i + 1:06d}", conv, [ref], category, *options,
                             output=CCI_LABELS[answer]))
    return out


# ----------------------------------------------------------------------------- generation

#: Topic -> spoken lines about it, for the synthetic summary and story tasks.
TOPIC_LINES = {
    "여행": ("어~ 지난달에 제주도 다녀왔어요", "비행기 표가 좀 비쌌어요", "바다가 정말 예뻤어요", "다음엔 부산에 가 보려고요"),
    "음식": ("요즘 떡볶이를 자주 먹어요", "저는 매운 걸 잘 못 먹어요", "김치찌개는 직접 끓여요", "동네 빵집이 맛있어요"),
    "운동": ("아침마다 달리기를 해요", "헬스장에 다니기 시작했어요", "무릎이 좀 아파서 쉬었어요", "주말엔 축구를 해요"),
    "영화": ("어제 극장에서 영화를 봤어요", "공포 영화는 무서워서 못 봐요", "배우 연기가 좋았어요", "집에서 드라마를 몰아 봤어요"),
    "날씨": ("오늘 너무 덥네요", "장마가 길어서 힘들어요", "눈이 많이 와서 길이 미끄러웠어요", "요즘은 아침저녁으로 쌀쌀해요"),
}
#: The middle sentence each story theme calls for.
STORY_MIDDLES = {
    "여행": "그래서 그는 가방을 싸서 기차역으로 갔다.",
    "음식": "그는 냉장고에 남은 재료로 요리를 시작했다.",
    "운동": "그는 운동화를 신고 공원으로 달려 나갔다.",
    "영화": "그는 표를 사서 극장 맨 앞자리에 앉았다.",
    "날씨": "갑자기 하늘이 어두워지더니 비가 쏟아졌다.",
}


def synthetic_summary(topic: str) -> str:
    """The target summary of a synthetic conversation about ``topic``."""
    return f"두 화자는 {topic}에 대해 이야기했습니다."


def synthetic_dcs(n: int, seed: int = 42, split: str = "train"):
    """``n`` 일상 대화 요약 records whose summary names the conversation's topic
    ("두 화자는 여행에 대해 이야기했습니다."): the lines of the conversation all come from
    that topic, so a tiny model can learn it; an untrained model scores near 0 ROUGE-1."""
    from .data import DCSRecord, Utterance

    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(list(TOPIC_LINES))
        speakers = (f"SD2{seed % 1000:03d}{i % 100:02d}1", f"SD2{seed % 1000:03d}{i % 100:02d}2")
        conv = [Utterance(speakers[t % 2], rng.choice(TOPIC_LINES[topic])) for t in range(rng.randint(2, 4))]
        out.append(DCSRecord(f"nikluge-2024-일상 대화 요약-{split}-{i + 1:06d}", conv, [topic], synthetic_summary(topic)))
    return out


def synthetic_sc(n: int, seed: int = 42, split: str = "train"):
    """``n`` 이야기 완성 records whose missing middle sentence is fixed by the story's theme
    (:data:`STORY_MIDDLES`); sentences 1 and 3 are lines of that theme."""
    from .data import SCRecord

    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(list(STORY_MIDDLES))
        first, third = rng.sample(TOPIC_LINES[topic], 2)
        out.append(SCRecord(f"nikluge-2023-sc-{split}-{i + 1:06d}", f"{with_particle(rng.choice(NAMES), '이/가')} 말했다. \"{first}\"",
                            f"결국 \"{third}\"라고 그는 덧붙였다.", STORY_MIDDLES[topic]))
    return out
