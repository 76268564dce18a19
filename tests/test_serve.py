"""The OpenAI-compatible server (``python -m helpers.serve``), over real HTTP on 127.0.0.1.

The server runs as a subprocess on a free local port (bounded start-up, always terminated);
requests go through the ``openai`` client as the contest's would. Greedy answers must equal
the kit's own ``inference.generate_texts`` on the same model for the same messages.
"""

import json
import re
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

HOST = "127.0.0.1"
STARTUP_S = 90  # importing torch + transformers and loading the model; about 8 s on 2 CPU cores
PROMPTS = [
    "다음 대화를 한 문장으로 요약하세요: 민수와 지영은 주말 여행 계획을 세웠다.",
    "오늘 날씨는 어때요?",
    "이야기를 이어 쓰세요: 옛날 옛적에 작은 마을에",
    "Summarize: two friends planned a trip.",
]
N = 12
#: Local addresses only: no proxy, whatever the environment says.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with _LOCAL.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _post(url: str, data: bytes, timeout: float = 60.0) -> tuple[int, bytes, str]:
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with _LOCAL.open(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type", "")


@contextmanager
def serving(model_dir: Path, *extra: str):
    """The kit's :func:`helpers.serve.local_server` (a subprocess on a free port of 127.0.0.1,
    bounded start-up, always stopped); a failed start fails the test with the server's log."""
    from helpers.core.messages import KitError
    from helpers.serve import local_server

    try:
        with local_server(model_dir, *extra, host=HOST, startup_s=STARTUP_S, env={"KIT_LANG": "en"}) as base:
            yield base
    except KitError as err:
        pytest.fail(str(err))


def _client(base: str):
    return openai.OpenAI(base_url=base + "/v1", api_key="not-needed", timeout=60.0, max_retries=0)


def _kit_answers(model, tok, prompts, max_new_tokens=N):
    """What the kit's own inference answers for one user message each (greedy)."""
    from helpers.core.chat import render
    from helpers.inference import GenerationConfig, generate_texts

    return [generate_texts(model, tok, [render(tok, [{"role": "user", "content": p}])],
                           GenerationConfig(max_new_tokens=max_new_tokens), clean=False, progress=False)[0]
            for p in prompts]


@pytest.fixture(scope="module")
def server(tiny_llm_dir):
    with serving(tiny_llm_dir) as base:
        yield base


@pytest.fixture(scope="module")
def kit_model(tiny_llm_dir):
    from helpers.llm import load_for_inference

    return load_for_inference(tiny_llm_dir)


def test_health_and_models(server, tiny_llm_dir):
    status, body = _get(server + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    models = _client(server).models.list()
    assert [m.id for m in models.data] == [tiny_llm_dir.name] == ["tiny-llama"]


def test_greedy_answers_equal_the_kits(server, kit_model):
    from helpers.core.chat import render

    model, tok = kit_model
    expected = _kit_answers(model, tok, PROMPTS)
    client = _client(server)
    for prompt, want in zip(PROMPTS, expected):
        r = client.chat.completions.create(model="tiny-llama", messages=[{"role": "user", "content": prompt}],
                                           max_tokens=N, temperature=0, top_p=1, seed=1234)
        assert r.choices[0].message.content == want, prompt
        assert r.choices[0].message.role == "assistant" and r.model == "tiny-llama"
        rendered = render(tok, [{"role": "user", "content": prompt}])
        assert r.usage.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
        assert 1 <= r.usage.completion_tokens <= N
        if r.usage.completion_tokens == N:
            assert r.choices[0].finish_reason == "length"
    # the seed does not change a greedy answer, and another model name is answered by the one model
    again = client.chat.completions.create(model="anything", messages=[{"role": "user", "content": PROMPTS[0]}],
                                           max_tokens=N, temperature=0, top_p=1, seed=7)
    assert again.choices[0].message.content == expected[0]


def test_stop_strings_cut_before_the_first_one(server, kit_model):
    model, tok = kit_model
    full = _kit_answers(model, tok, PROMPTS[:1])[0]
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop.strip(), full
    r = _client(server).chat.completions.create(
        model="tiny-llama", messages=[{"role": "user", "content": PROMPTS[0]}], max_tokens=N, temperature=0,
        top_p=1, seed=1234, stop=["이 문자열은 나오지 않는다", stop])
    assert r.choices[0].message.content == full[: full.index(stop)]
    assert r.choices[0].finish_reason == "stop"


def test_korean_is_written_unescaped(server, kit_model):
    model, tok = kit_model
    want = _kit_answers(model, tok, PROMPTS[1:2])[0]
    assert re.search("[가-힣]", want), want  # the tiny model's answer has Hangul to escape or not
    body = json.dumps({"model": "tiny-llama", "messages": [{"role": "user", "content": PROMPTS[1]}],
                       "max_tokens": N, "temperature": 0, "top_p": 1, "seed": 1, "stop": ["\n\n\n"]},
                      ensure_ascii=False).encode("utf-8")
    status, raw, ctype = _post(server + "/v1/chat/completions", body)
    assert status == 200 and ctype.startswith("application/json")
    text = raw.decode("utf-8")
    assert "\\u" not in text and json.dumps(want, ensure_ascii=False) in text


def test_sampling_is_seeded(server):
    client = _client(server)
    kw = dict(model="tiny-llama", messages=[{"role": "user", "content": PROMPTS[2]}], max_tokens=6, temperature=0.9,
              top_p=0.95)
    assert (client.chat.completions.create(seed=5, **kw).choices[0].message.content
            == client.chat.completions.create(seed=5, **kw).choices[0].message.content)


@pytest.mark.parametrize("body, param", [
    (b'{"max_tokens": 8}', "messages"),                                              # no messages
    (b'{"messages": "hello"}', "messages"),                                          # a string, not a list
    (b'{"messages": []}', "messages"),
    (b'{"messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
    (b'{"messages": [{"role": "robot", "content": "x"}]}', "messages[0]"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "8"}', "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": -1}', "temperature"),
    (b'{"messages": [{"role": "user", "content": "x"}], "stop": [1]}', "stop"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}', "messages"),  # too long
    (b'{"messages": [{"role": "user", "content": "x"}], "stream": true}', "stream"),
    (b'{"messages": [', None),                                                       # not JSON
    (b'[1, 2]', None),                                                               # not an object
    ("\ufeff{}".encode("utf-16"), None),                                             # not UTF-8
])
def test_malformed_requests_get_a_4xx_json_error(server, body, param):
    status, raw, ctype = _post(server + "/v1/chat/completions", body)
    assert status == 400 and ctype.startswith("application/json")
    err = json.loads(raw)["error"]
    assert err["message"] and err["type"] == "invalid_request_error" and err["param"] == param
    assert _get(server + "/health")[0] == 200  # still serving


def test_the_openai_client_sees_a_bad_request_and_unknown_paths_are_json(server):
    with pytest.raises(openai.BadRequestError) as info:
        _client(server).chat.completions.create(model="tiny-llama", messages=[{"role": "robot", "content": "x"}])
    assert info.value.status_code == 400
    status, raw = _get(server + "/v1/nothing")
    assert status == 404 and "error" in json.loads(raw)


def test_an_adapter_folder_is_served_as_the_kit_loads_it(tiny_llm_dir, tmp_path):
    """A kit QLoRA adapter folder (kit_llm_config.json + adapter weights, not merged) answers
    as ``load_for_inference`` on that folder does: 4-bit base + LoRA, as trained. In-process
    (``build_app`` behind starlette's test client, which the openai client takes as its HTTP
    client): the subprocess path is the tests above, and a second server would double their time."""
    import torch
    from starlette.testclient import TestClient

    from helpers import llm
    from helpers.serve import build_app

    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path / "run"), method="qlora", seed=0)
    model, tok = llm.load_model(cfg)
    model = llm.add_adapters(model, cfg)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a random adapter that changes the answers (LoRA's B starts at zero)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    adapter = llm.save_adapter(model, tok, cfg, tmp_path / "run" / "final")
    del model
    want_model, want_tok = llm.load_for_inference(adapter)
    expected = _kit_answers(want_model, want_tok, PROMPTS[:2])
    with TestClient(build_app(adapter)) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="not-needed", http_client=http, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["run"]
        for prompt, want in zip(PROMPTS[:2], expected):
            r = client.chat.completions.create(model="run", messages=[{"role": "user", "content": prompt}],
                                               max_tokens=N, temperature=0, top_p=1, seed=0, stop=["\n\n\n"])
            assert r.choices[0].message.content == want, prompt


def test_command_line_reports_a_missing_folder(tmp_path, capsys):
    from helpers.serve import main

    assert main(["--model", str(tmp_path / "missing")]) == 1
    assert "no model folder" in capsys.readouterr().err
