"""Time the reply guardrails add per AI reply.

    .venv/bin/python bench/guardrails.py [--repeat N]

Replies of 50, 500 and 5,000 characters of realistic customer-service text (order numbers that
look like card numbers but fail the Luhn check, amounts, dates, a tracking code, an e-mail and
a phone number) are checked by the full guardrail set: the built-in defaults (cards, national
ids, claims, maximum length) plus e-mail and phone redaction, two blocked topics and three
blocked phrases (one a regular expression). The policy is compiled once beforehand, as the
orchestrator does (one compile per configuration version); the compile time is printed too.
Figures are the median and 95th percentile of ``evaluate`` per reply, in milliseconds. The aim:
under 1 ms for a 500-character reply. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.guardrails import compile_policy, effective_policy, evaluate  # noqa: E402
from agents.guardrails.engine import _build  # noqa: E402
from tools.stats import percentile  # noqa: E402

AIM_MS = 1.0
FULL_SET = {
    "emails": True,
    "phones": True,
    "topics": [
        {"name": "competitors", "keywords": ["ShopNova", "BrightCart", "TrailMart"]},
        {"name": "legal-advice", "keywords": ["sue", "lawsuit", "small claims court"]},
    ],
    "phrases": ["guaranteed refund", "free money", r"/100\s*%\s*guaranteed/"],
}
SENTENCES = (
    "Thanks for your patience, Kim.",
    "I can see order 4111 1111 1111 1112 from 3 May for 89.90 EUR.",
    "It left our warehouse in Utrecht yesterday and the tracking code is NL-2231-8842.",
    "Refunds reach your account 3 to 5 working days after we issue them.",
    "A colleague approves refunds over 100 EUR, so you will hear from us shortly.",
    "If anything else is wrong, reply here or write to support@example.com.",
    "You can also call us on +31 20 123 4567 between 9:00 and 17:00.",
    "Your order id 884213377102 is linked to the address on file.",
)


def reply_of(length: int) -> str:
    text, i = "", 0
    while len(text) < length:
        text += SENTENCES[i % len(SENTENCES)] + " "
        i += 1
    return text[:length]


def measure(policy, text: str, repeat: int) -> tuple[float, float]:
    for _ in range(50):  # warm up
        evaluate(policy, text, done_actions=list)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        evaluate(policy, text, done_actions=list)
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 50), percentile(samples, 95)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args(argv)

    document = effective_policy(FULL_SET)
    start = time.perf_counter()
    _build(document)
    compile_ms = (time.perf_counter() - start) * 1000
    policy = compile_policy(document)

    figures = [
        {"name": "compile the policy (once per configuration version)",
         "value": round(compile_ms, 3), "unit": "ms", "aim": "", "met": None},
    ]  # fmt: skip
    print(f"compile: {compile_ms:.3f} ms (once per configuration version)")
    for length in (50, 500, 5000):
        text = reply_of(length)
        verdict = evaluate(policy, text)
        median, p95 = measure(policy, text, args.repeat if length < 5000 else args.repeat // 4)
        aim = f"< {AIM_MS:g} ms" if length == 500 else ""
        met = (median < AIM_MS) if length == 500 else None
        print(
            f"{length:>5} chars: median {median:.4f} ms, p95 {p95:.4f} ms "
            f"({verdict.outcome}; fired {', '.join(f.rule for f in verdict.fired) or 'nothing'})"
            + (f"  aim {aim}: {'met' if met else 'MISSED'}" if aim else "")
        )
        figures.append(
            {"name": f"guardrails per reply, {length} chars (median)", "value": round(median, 4),
             "unit": "ms", "aim": aim, "met": met}
        )  # fmt: skip
        figures.append(
            {"name": f"guardrails per reply, {length} chars (p95)", "value": round(p95, 4),
             "unit": "ms", "aim": "", "met": None}
        )  # fmt: skip
    result = {
        "bench": "guardrails",
        "figures": figures,
        "command": ".venv/bin/python bench/guardrails.py",
    }
    print("RESULT " + json.dumps(result))
    return 0 if all(f["met"] is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
