import pytest

from agents.detectors import DEFAULT_INTENTS, IntentSpec, detect_intent, with_domains


def test_default_intents_cover_a_customer_service_tenant():
    names = {spec.name for spec in DEFAULT_INTENTS}

    assert {
        "billing",
        "refund",
        "returns",
        "technical",
        "account",
        "shipping",
        "cancellation",
        "greeting",
        "human_agent",
    } <= names


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Where is my parcel? The tracking hasn't moved.", "shipping"),
        ("How long do refunds usually take?", "refund"),
        ("I was refunded the wrong amount", "refund"),
        ("Can I get a copy of my last invoice?", "billing"),
        ("I forgot my password", "account"),
        ("The app keeps crashing since the update", "technical"),
        ("What's your return policy?", "returns"),
        ("Please cancel my subscription", "cancellation"),
        ("Can I speak to a human?", "human_agent"),
        ("Hello!", "greeting"),
        ("Hi, my invoice is wrong", "billing"),
    ],
)
def test_default_intents(text, intent):
    assert detect_intent(text).intent == intent


def test_no_match_gives_none_and_zero_confidence():
    result = detect_intent("Do you have this in size 42?")

    assert result.intent is None
    assert result.confidence == 0.0
    assert result.terms == ()
    assert detect_intent("").intent is None


def test_stemming_matches_plurals_and_suffixes():
    intents = [IntentSpec("refund", keywords=["refund"])]

    for text in ("refunds", "Refunded?", "refunding my order", "REFUND"):
        assert detect_intent(text, intents).intent == "refund", text


def test_punctuation_and_case_are_ignored_in_phrases():
    intents = [IntentSpec("order_status", phrases=["where is my order"])]

    result = detect_intent("WHERE... is my ORDER?!", intents)

    assert result.intent == "order_status"
    assert result.terms == ("where is my order",)


def test_custom_tenant_intents_replace_the_defaults():
    intents = [
        IntentSpec("vision", keywords=["glasses", "lens", "lenses"], phrases=["eye test"]),
        IntentSpec("appointments", keywords=["appointment", "booking"], phrases=["book a slot"]),
    ]

    assert detect_intent("Can I book a slot for an eye test?", intents).intent == "appointments"
    assert detect_intent("My new lenses are blurry", intents).intent == "vision"
    assert detect_intent("Where is my refund?", intents).intent is None


def test_plain_mappings_are_accepted_as_config():
    intents = [{"name": "vision", "keywords": ["glasses"], "phrases": []}]

    assert detect_intent("my glasses broke", intents).intent == "vision"


def test_domain_acts_as_an_intent_named_after_itself():
    intents = [IntentSpec("greeting", keywords=["hello"])]

    result = detect_intent("it's about billing", intents, domains=["billing", "vision"])

    assert result.intent == "billing"
    assert result.terms == ("billing",)
    assert detect_intent("a vision question", intents, domains=["billing", "vision"]).intent == (
        "vision"
    )


def test_domain_with_the_name_of_an_intent_adds_its_name_as_keyword():
    intents = [IntentSpec("returns", keywords=["exchange"])]

    merged = with_domains(intents, ["returns", "order_status"])

    assert merged[0] == IntentSpec("returns", keywords=("exchange", "returns"))
    assert merged[1] == IntentSpec("order_status", phrases=("order status",))
    assert detect_intent("order status please", merged).intent == "order_status"


def test_tie_is_broken_by_configuration_order():
    first = IntentSpec("alpha", keywords=["widget"])
    second = IntentSpec("beta", keywords=["widget"])

    assert detect_intent("my widget", [first, second]).intent == "alpha"
    assert detect_intent("my widget", [second, first]).intent == "beta"
    assert detect_intent("my widget", [first, second]).confidence == pytest.approx(0.316, abs=1e-3)


def test_tie_prefers_phrase_matches_before_order():
    by_keyword = IntentSpec("kw", keywords=["status", "order"])
    by_phrase = IntentSpec("phrase", phrases=["order status"])

    # 2 keywords score 2.0; a two-word phrase scores 1.5
    assert detect_intent("order status", [by_keyword, by_phrase]).intent == "kw"
    by_phrase_long = IntentSpec("phrase", phrases=["my order status"])
    assert detect_intent("my order status", [by_keyword, by_phrase_long]).intent == "phrase"


def test_higher_score_wins_and_confidence_grows_with_evidence():
    intents = [
        IntentSpec("billing", keywords=["invoice", "charge"]),
        IntentSpec("shipping", keywords=["parcel"]),
    ]

    one = detect_intent("my invoice", intents)
    two = detect_intent("the charge on my invoice", intents)
    contested = detect_intent("the charge on my invoice for the parcel", intents)

    assert one.intent == two.intent == contested.intent == "billing"
    assert 0 < one.confidence < two.confidence <= 1
    assert contested.confidence < two.confidence
    assert contested.ranking == (("billing", 2.0), ("shipping", 1.0))


def test_negated_wish_does_not_count():
    assert detect_intent("No need for an agent, thanks").intent != "human_agent"
    assert detect_intent("No plans to cancel, I love it").intent is None
    # a negated event still names the topic
    assert detect_intent("I didn't get my refund").intent == "refund"


def test_weight_lowers_an_intent():
    intents = [
        IntentSpec("greeting", keywords=["hi"], weight=0.5),
        IntentSpec("billing", keywords=["bill"]),
    ]

    assert detect_intent("hi, my bill", intents).intent == "billing"


def test_intent_spec_validates_and_is_hashable():
    spec = IntentSpec("x", keywords=["a", "b"], phrases="one phrase")

    assert spec.keywords == ("a", "b")
    assert spec.phrases == ("one phrase",)
    assert hash(spec) == hash(IntentSpec("x", keywords=("a", "b"), phrases=("one phrase",)))
    assert IntentSpec.from_dict(spec.as_dict()) == spec
    with pytest.raises(ValueError):
        IntentSpec("")
    with pytest.raises(ValueError):
        IntentSpec("x", weight=0)


def test_result_is_deterministic():
    text = "Hi, I want a refund for the broken parcel and to talk to a person"

    results = {detect_intent(text) for _ in range(5)}

    assert len(results) == 1
