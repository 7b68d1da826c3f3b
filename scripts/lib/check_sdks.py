"""The official openai and anthropic Python SDKs, with structured outputs,
against a running trizone-sim: what a user of either SDK would call, and
what they would check in the answer.

Usage: check_sdks.py BASE_URL CONTROL_TOKEN   (BASE_URL without /v1)
"""

import json
import sys
import urllib.request
from typing import List, Literal

import anthropic
import openai
from pydantic import BaseModel, ConfigDict

CODE = "import os\n\ndef run(cmd):\n    return eval(cmd)\n"
PROMPT = f"Review tool.py (python):\n{CODE}"


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_start: int
    line_end: int
    severity: Literal["info", "low", "medium", "high", "critical"]
    category: str
    message: str


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")
    findings: List[Finding]
    summary: str


def script(base: str, token: str, model: str, behaviours: list) -> None:
    """The next requests to `model` behave as listed."""
    request = urllib.request.Request(
        f"{base}/control/scripts/{model}",
        data=json.dumps(behaviours).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status in (200, 204), response.status


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"check_sdks: {what}")


def the_eval_is_found(review: Review, sdk: str) -> None:
    lines = [f.line_start for f in review.findings]
    check(lines == [4], f"{sdk}: expected the eval on line 4, got {review!r}")


def openai_checks(base: str, token: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-sdk-check", max_retries=0)
    # A fence under a strict schema is not possible: the SDK parses the answer.
    script(base, token, "gpt-sdk", ["fenced"])
    completion = client.chat.completions.parse(
        model="gpt-sdk",
        messages=[{"role": "system", "content": "Review code."}, {"role": "user", "content": PROMPT}],
        response_format=Review,
    )
    message = completion.choices[0].message
    check(message.parsed is not None, f"openai: no parsed review in {message!r}")
    the_eval_is_found(message.parsed, "openai")
    check(completion.usage.prompt_tokens > 0, "openai: no prompt tokens in usage")
    check(
        completion.usage.prompt_tokens_details.cached_tokens is not None,
        "openai: usage has no prompt_tokens_details.cached_tokens",
    )
    # A refusal under a schema has a field of its own, and nothing to parse.
    script(base, token, "gpt-sdk", ["refusal"])
    refused = client.chat.completions.parse(
        model="gpt-sdk",
        messages=[{"role": "user", "content": PROMPT}],
        response_format=Review,
    ).choices[0].message
    check(refused.refusal and refused.parsed is None, f"openai: refusal not reported: {refused!r}")
    # A truncated answer under a schema: the SDK raises, as it does against OpenAI.
    script(base, token, "gpt-sdk", ["truncated"])
    try:
        client.chat.completions.parse(
            model="gpt-sdk", messages=[{"role": "user", "content": PROMPT}], response_format=Review
        )
        sys.exit("check_sdks: openai: a truncated answer was parsed")
    except openai.LengthFinishReasonError:
        pass
    # A schema outside the strict subset is refused before any model sees it.
    try:
        client.chat.completions.create(
            model="gpt-sdk",
            messages=[{"role": "user", "content": PROMPT}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "loose", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
            },
        )
        sys.exit("check_sdks: openai: a non-strict schema was accepted")
    except openai.BadRequestError as error:
        check("additionalProperties" in str(error), f"openai: unclear error {error}")


def anthropic_checks(base: str, token: str) -> None:
    client = anthropic.Anthropic(base_url=base, api_key="sk-ant-sdk-check", max_retries=0)
    tool = {
        "name": "submit_review",
        "description": "Submit the review of the code.",
        "input_schema": Review.model_json_schema(),
    }
    script(base, token, "claude-sdk", ["preamble"])
    message = client.messages.create(
        model="claude-sdk",
        max_tokens=1024,
        system="Review code.",
        messages=[{"role": "user", "content": PROMPT}],
        tools=[tool],
        tool_choice={"type": "tool", "name": "submit_review"},
    )
    calls = [block for block in message.content if block.type == "tool_use"]
    check(len(calls) == 1 and calls[0].name == "submit_review", f"anthropic: no tool call in {message!r}")
    check(message.stop_reason == "tool_use", f"anthropic: stop_reason {message.stop_reason}")
    the_eval_is_found(Review.model_validate(calls[0].input), "anthropic tool")
    # Structured outputs proper: the SDK sends output_config.format and parses.
    parsed = client.messages.parse(
        model="claude-sdk",
        max_tokens=1024,
        messages=[{"role": "user", "content": PROMPT}],
        output_format=Review,
    )
    check(parsed.parsed_output is not None, f"anthropic: no parsed_output in {parsed!r}")
    the_eval_is_found(parsed.parsed_output, "anthropic output_format")
    script(base, token, "claude-sdk", ["refusal"])
    refused = client.messages.create(
        model="claude-sdk",
        max_tokens=1024,
        messages=[{"role": "user", "content": PROMPT}],
        tools=[tool],
        tool_choice={"type": "tool", "name": "submit_review"},
    )
    check(refused.stop_reason == "refusal", f"anthropic: stop_reason {refused.stop_reason}")
    # Forcing a tool that was not offered is the caller's mistake: a 400.
    try:
        client.messages.create(
            model="claude-sdk",
            max_tokens=1024,
            messages=[{"role": "user", "content": PROMPT}],
            tools=[tool],
            tool_choice={"type": "tool", "name": "other"},
        )
        sys.exit("check_sdks: anthropic: a forced tool that was not offered was accepted")
    except anthropic.BadRequestError:
        pass


def main() -> None:
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    openai_checks(base, token)
    anthropic_checks(base, token)
    print(f"openai {openai.__version__} and anthropic {anthropic.__version__}: structured outputs work against trizone-sim")


if __name__ == "__main__":
    main()
