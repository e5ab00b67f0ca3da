"""Each reply guardrail on realistic replies, with the look-alikes that must pass (the engine is
pure: no database)."""

from __future__ import annotations

import pytest

from agents.guardrails import compile_policy, effective_policy, evaluate
from agents.guardrails.detectors import bsn_valid, card_issuer, luhn_valid
from agents.guardrails.policy import FALLBACK_TEXT, parse_phrases, parse_topics, policy_problems


def check(text, *levels, done=()):
    return evaluate(compile_policy(effective_policy(*levels)), text, done_actions=done)


def rules(verdict):
    return [f.rule for f in verdict.fired]


# --- personal data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",  # Visa, spaced
        "5500-0000-0000-0004",  # Mastercard, hyphens
        "378282246310005",  # American Express
        "6011111111111117",  # Discover
        "2223003122003222",  # Mastercard 2-series
    ],
)
def test_a_card_number_in_a_reply_is_redacted(card):
    verdict = check(f"I can see the payment from card {card} on 3 May.")

    assert verdict.outcome == "redacted"
    assert verdict.text == "I can see the payment from card [card number removed] on 3 May."
    assert rules(verdict) == ["pii.card"]


def test_an_order_number_that_looks_like_a_card_but_fails_luhn_passes():
    text = "Your order 4111 1111 1111 1112 left our warehouse this morning."
    assert not luhn_valid("4111111111111112")

    verdict = check(text)

    assert verdict.outcome == "pass"
    assert verdict.text == text


def test_a_luhn_valid_number_without_a_card_prefix_passes():
    # 16 digits, Luhn-valid, but no card network starts with 9
    assert luhn_valid("9000000000000001")
    assert card_issuer("9000000000000001") is None

    assert check("Tracking number 9000000000000001 is on its way.").outcome == "pass"


def test_a_us_social_security_number_is_redacted_and_never_issued_ones_pass():
    verdict = check("The SSN on file is 123-45-6789.")
    assert verdict.text == "The SSN on file is [id number removed]."
    assert rules(verdict) == ["pii.national_id.us_ssn"]

    for never_issued in ("000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567"):
        assert check(f"Reference {never_issued}.").outcome == "pass"


def test_a_uk_national_insurance_number_is_redacted():
    verdict = check("Your NI number AB 12 34 56 C is confirmed.")
    assert verdict.text == "Your NI number [id number removed] is confirmed."
    # an invalid prefix (GB) and a parcel code in lower case pass
    assert check("Parcel GB123456A is at the depot.").outcome == "pass"
    assert check("Code ab123456c is your voucher.").outcome == "pass"


def test_a_dutch_bsn_is_redacted_only_when_it_passes_the_11_check_and_is_named():
    assert bsn_valid("111222333")
    assert not bsn_valid("123456789")

    verdict = check("Uw BSN is 111222333, dat klopt.")
    assert verdict.text == "Uw BSN is [id number removed], dat klopt."
    assert rules(verdict) == ["pii.national_id.nl_bsn"]

    # the same digits as an order number, and a BSN-like number failing the 11-check, pass
    assert check("Order 111222333 ships today.").outcome == "pass"
    assert check("BSN 123456789 is not valid.").outcome == "pass"


def test_email_and_phone_are_redacted_only_where_the_tenant_chooses():
    text = "Write to jane.doe@example.com or call +31 20 123 4567."
    assert check(text).outcome == "pass"  # both off by default

    verdict = check(text, {"emails": True, "phones": True})

    assert verdict.text == "Write to [e-mail removed] or call [phone number removed]."
    assert rules(verdict) == ["pii.email", "pii.phone"]


def test_a_phone_like_order_id_passes_when_phone_redaction_is_off_and_a_plain_id_when_on():
    assert check("Your order id is 0612345678.").outcome == "pass"
    # on: a written phone number goes, a bare 12-digit order id stays
    verdict = check("Order 884213377102, or call us on 020 123 4567.", {"phones": True})
    assert verdict.text == "Order 884213377102, or call us on [phone number removed]."


def test_personal_data_can_rewrite_to_the_fallback_or_block():
    text = "Card 4111 1111 1111 1111 is on file."

    fallback = check(text, {"personalDataAction": "fallback"})
    blocked = check(text, {"personalDataAction": "block"})

    assert (fallback.outcome, fallback.text) == ("fallback", FALLBACK_TEXT)
    assert (blocked.outcome, blocked.text, blocked.blocked) == ("blocked", None, True)


# --- blocked topics and phrases ----------------------------------------------------------------

COMPETITORS = {"topics": [{"name": "competitors", "keywords": ["ShopNova", "Bright Cart"]}]}


def test_a_blocked_topic_rewrites_the_reply_to_the_fallback():
    verdict = check("Honestly, bright  cart has it cheaper this week.", COMPETITORS)

    assert verdict.outcome == "fallback"
    assert verdict.text == FALLBACK_TEXT
    assert rules(verdict) == ["topic.competitors"]


def test_a_topic_keyword_inside_another_word_passes():
    assert check("Our shopnovice guide explains returns.", COMPETITORS).outcome == "pass"


def test_blocked_phrases_and_patterns_redact_when_so_configured():
    policy = {"phrases": ["guaranteed returns", "/free\\s+money/"], "blockedAction": "redact"}

    verdict = check("It is free   money with Guaranteed Returns!", policy)

    assert verdict.text == "It is [removed] with [removed]!"
    assert [(f.rule, f.count) for f in verdict.fired] == [("phrase", 2)]


def test_a_blocked_phrase_can_block_and_hand_over():
    verdict = check("You should sue them.", {"phrases": ["sue them"], "blockedAction": "block"})
    assert verdict.blocked


# --- claims of actions that have not run -------------------------------------------------------


@pytest.mark.parametrize(
    "claim",
    [
        "I've refunded you €20.",
        "We have issued a full refund to your card.",
        "Good news: your refund has been processed.",
        "The duplicate payment has been refunded.",
    ],
)
def test_a_claimed_refund_that_has_not_run_is_rewritten(claim):
    verdict = check(f"Thanks for waiting. {claim} Anything else?")

    assert verdict.outcome == "fallback"
    assert rules(verdict) == ["claim.issue_refund"]


def test_a_claim_passes_once_the_action_has_run_in_the_conversation():
    assert check("I've refunded you €20.", done=["issue_refund"]).outcome == "pass"
    # the executions are looked up only when a claim is found
    calls = []
    check("Your invoices are under Account > Billing.", done=lambda: calls.append(1) or [])
    assert calls == []


def test_promises_and_policies_are_not_claims():
    for text in (
        "I can refund the duplicate payment.",
        "I'm refunding it now; a colleague approves refunds of this size.",
        "Late deliveries are refunded automatically within 5 days.",
        "I have asked for your refund.",
        "Refunds reach your account 3 to 5 working days after we issue them.",
    ):
        assert check(text).outcome == "pass", text


def test_a_claim_can_be_cut_out_of_the_reply():
    verdict = check(
        "Sorry about that. I've updated your account. Anything else?", {"claimsAction": "redact"}
    )
    assert verdict.outcome == "redacted"
    assert verdict.text == "Sorry about that. Anything else?"
    assert rules(verdict) == ["claim.modify_account"]


# --- length, combination, levels ---------------------------------------------------------------


def test_a_long_reply_is_shortened_at_a_word():
    verdict = check("word " * 100, {"maxLength": 50})
    assert verdict.outcome == "redacted"
    assert len(verdict.text) <= 50 and verdict.text.endswith("word…")
    assert verdict.fired[0].detail == {"length": 500, "limit": 50}


def test_the_strongest_action_wins_and_every_rule_is_listed():
    verdict = check(
        "Card 4111111111111111. I've refunded you. ShopNova is cheaper.",
        {**COMPETITORS, "blockedAction": "block"},
    )
    assert verdict.outcome == "blocked"
    assert rules(verdict) == ["topic.competitors", "claim.issue_refund", "pii.card"]


def test_a_reply_redacted_to_nothing_becomes_the_fallback():
    verdict = check("I've refunded you.", {"claimsAction": "redact"})
    assert (verdict.outcome, verdict.text) == ("fallback", FALLBACK_TEXT)


def test_agent_settings_override_the_tenant_and_lists_add_up():
    tenant = {"emails": True, "phrases": ["cheap"], "fallbackText": "Tenant fallback."}
    agent = {"emails": False, "phrases": ["bargain"], "topics": COMPETITORS["topics"]}

    policy = effective_policy(tenant, agent)

    assert policy["emails"] is False
    assert policy["phrases"] == ["cheap", "bargain"]
    assert policy["fallbackText"] == "Tenant fallback."
    assert policy["topics"][0]["name"] == "competitors"
    assert policy["cards"] is True  # the built-in default


def test_a_policy_compiles_once_per_distinct_document():
    first = compile_policy(effective_policy({"phrases": ["x-ray"]}))
    again = compile_policy(effective_policy({"phrases": ["x-ray"]}))
    other = compile_policy(effective_policy({"phrases": ["y-ray"]}))
    assert first is again
    assert other is not first


def test_any_text_is_evaluated_without_raising():
    policy = compile_policy(effective_policy({"phones": True, "emails": True, "maxLength": 10}))
    for text in ("", " ", "\x00" * 50, "9" * 5000, "@@@.com", "+" * 100, "é" * 30):
        evaluate(policy, text)


# --- what managers type --------------------------------------------------------------------------


def test_phrases_and_topics_are_parsed_with_their_problems_by_line():
    assert parse_phrases("cheap\n\n/(unclosed/\n/a*/") == (
        ["cheap"],
        [
            "line 3: /(unclosed/ is not a valid regular expression "
            "(missing ), unterminated subpattern at position 0)",
            "line 4: /a*/ matches empty text",
        ],
    )
    assert parse_topics("legal: lawyer, court\nnonsense\nBad Name: x") == (
        [{"name": "legal", "keywords": ["lawyer", "court"]}],
        [
            "line 2: write 'topic: keyword, another keyword'",
            "line 3: 'bad name' is not a topic name (lowercase letters, digits, - or _)",
        ],
    )


def test_a_policy_document_is_checked_key_by_key():
    assert policy_problems({"cards": "yes", "maxLength": 0, "claimsAction": "shout", "x": 1}) == {
        "x": "unknown guardrail setting",
        "cards": "must be true, false or null",
        "claimsAction": "must be one of redact, fallback, block",
        "maxLength": "must be a whole number from 1 to 20000",
    }
    assert policy_problems({"phrases": ["/[/"]})["phrases"].startswith("line 1: /[/ is not")
