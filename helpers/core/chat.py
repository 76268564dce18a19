"""Rendering chat messages into prompt text with a tokenizer's own chat template.

When a tokenizer has no chat template, :func:`render` falls back to a plain layout
(:data:`FALLBACK_TEMPLATE`): each turn as ``### <role>:`` + content, then ``### assistant:``.
Models whose template refuses a ``system`` role (Gemma) get the system text folded into the
first user message.
"""

from __future__ import annotations

__all__ = ["FALLBACK_TEMPLATE", "CHAT_TEMPLATE", "render"]

#: The layout used when a tokenizer has no chat template of its own.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}### assistant:\n{% endif %}"
)
#: The template of the kit's tiny smoke-mode models.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text from the tokenizer's chat template (or :data:`FALLBACK_TEMPLATE`)."""
    template = getattr(tokenizer, "chat_template", None) or FALLBACK_TEMPLATE
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             chat_template=template)
    except Exception as err:  # e.g. "System role not supported" (Gemma)
        if messages and messages[0]["role"] == "system" and "system" in str(err).lower():
            merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]},
                      *messages[2:]]
            return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                 chat_template=template)
        raise
