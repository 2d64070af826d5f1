"""Text normalisation: what the voice will actually say."""

from __future__ import annotations

import pytest

from tts.normalize import has_speakable_text, normalize, split_sentences
from factory.text import zh_cardinal
from tts.numbers import cardinal, ordinal, year


@pytest.mark.parametrize(
    "text, spoken",
    [
        # numbers
        ("I have 3 cats.", "I have three cats."),
        ("There were 1,250 people and 20000 dogs.", "There were one thousand two hundred fifty people and twenty thousand dogs."),
        ("Pi is 3.14 and it was -5 outside.", "Pi is three point one four and it was minus five outside."),
        ("He came 1st, she came 22nd and 103rd.", "He came first, she came twenty-second and one hundred third."),
        ("Pages 10-20.", "Pages ten to twenty."),
        # years
        ("Born in 1850, died 1999.", "Born in eighteen fifty, died nineteen ninety-nine."),
        ("The 2024 election.", "The twenty twenty-four election."),
        ("In 2005 and 1900.", "In two thousand five and nineteen hundred."),
        ("The 1990s and the '80s.", "The nineteen nineties and the eighties."),
        # dates (only unambiguous numeric ones)
        ("On 2024-03-05.", "On March fifth, twenty twenty-four."),
        ("On March 5, 2024.", "On March fifth, twenty twenty-four."),
        ("On 5 March 2024.", "On the fifth of March, twenty twenty-four."),
        ("On 25/12/2024.", "On the twenty-fifth of December, twenty twenty-four."),
        ("On 5/3/2024.", "On five slash three slash twenty twenty-four."),
        # currency
        ("It costs $1,250.50 today.", "It costs one thousand two hundred fifty dollars and fifty cents today."),
        ("Just $1 or $0.05.", "Just one dollar or five cents."),
        ("€20 and £3.20 and £1.01.", "twenty euros and three pounds and twenty pence and one pound and one penny."),
        ("A $1.5 million deal.", "A one point five million dollars deal."),
        # percentages, temperatures
        ("Sales grew 45% then 3.5%.", "Sales grew forty-five percent then three point five percent."),
        ("It is 20°C.", "It is twenty degrees Celsius."),
        # times
        ("Meet at 3:30 pm or 3:05.", "Meet at three thirty PM or three oh five."),
        ("At 7 a.m. Then we go.", "At seven AM. Then we go."),
        ("At 15:00 sharp.", "At fifteen hundred sharp."),
        # abbreviations
        ("Dr. Smith met Mr. Jones and Mrs. Brown.", "Doctor Smith met Mister Jones and Missus Brown."),
        ("St. Paul lives on Elm St. with Ms. Lee.", "Saint Paul lives on Elm Street with Miz Lee."),
        ("Fruit, e.g. apples, i.e. food, etc. Then more.", "Fruit, for example apples, that is food, et cetera. Then more."),
        ("Cats vs. dogs.", "Cats versus dogs."),
        ("Acme Inc. Next.", "Acme Incorporated. Next."),
        ("No. 5 and #1.", "number five and number one."),
        # symbols a voice must not spell out
        ("**Bold** and _this_ # Title", "Bold and this Title"),
        ("Rock & roll, 2+2=4.", "Rock and roll, two plus two equals four."),
    ],
)
def test_english_normalisation(text: str, spoken: str) -> None:
    assert normalize(text, "en") == spoken


def test_number_words() -> None:
    assert cardinal(0) == "zero"
    assert cardinal(1_234_567) == "one million two hundred thirty-four thousand five hundred sixty-seven"
    assert ordinal(21) == "twenty-first" and ordinal(12) == "twelfth" and ordinal(40) == "fortieth"
    assert year(1805) == "eighteen oh five" and year(2010) == "twenty ten" and year(2000) == "two thousand"


def test_chinese_seam_converts_numerals() -> None:
    assert zh_cardinal(10) == "十" and zh_cardinal(1010) == "一千零一十" and zh_cardinal(120_000_000) == "一亿二千万"
    assert normalize("我在2024年买了3.5公斤苹果，花了1250元，涨了15%。", "zh") == (
        "我在二零二四年买了三点五公斤苹果，花了一千二百五十元，涨了百分之十五。"
    )
    assert normalize("他工作了10年。", "zh") == "他工作了十年。"  # a span of years, not a year


def test_symbols_only_has_nothing_to_say() -> None:
    assert not has_speakable_text(normalize("#### *** ~~~ |||", "en"))
    assert has_speakable_text(normalize("Hi!", "en"))


def test_split_sentences_english() -> None:
    text = normalize("Dr. Smith arrived. He said hi! Was it J. K. Rowling? Yes... it was.\n\nA title\n\nThe end.")
    assert split_sentences(text, "en") == [
        "Doctor Smith arrived.",
        "He said hi!",
        "Was it J. K. Rowling?",
        "Yes... it was.",
        "A title",
        "The end.",
    ]


def test_split_sentences_chinese() -> None:
    assert split_sentences("你好。今天天气很好！你去吗？“好的。”他说。", "zh") == [
        "你好。", "今天天气很好！", "你去吗？", "“好的。”", "他说。"
    ]


def test_run_on_sentence_is_cut_at_commas() -> None:
    parts = split_sentences("one, " * 120 + "end.", "en")
    assert len(parts) > 1 and all(len(p) <= 300 for p in parts)
    assert " ".join(parts) == ("one, " * 120 + "end.")


# Signs, addresses and markup: spoken in words or dropped, never "dollar", "slash", "equals" by surprise.
SYMBOL_CASES = [
    ("Plans from $9/month.", "Plans from nine dollars per month."),
    ("Save 20% at https://www.example.com/pricing today.", "Save twenty percent at example dot com slash pricing today."),
    ("Visit acme.io.", "Visit acme dot io."),
    ("Write to sales@acme.io or first.last@mail.example.org.",
     "Write to sales at acme dot io or first dot last at mail dot example dot org."),
    ("Q&A and R&D.", "Q and A and R and D."),
    ("If x = 5 then 2+2=4.", "If x equals five then two plus two equals four."),
    ("Use and/or, his/her, A/B tests.", "Use and or, his or her, A B tests."),
    ("Support 24/7.", "Support twenty-four seven."),
    ("Learn C++ and C# today.", "Learn C plus plus and C sharp today."),
    ("#SmallBusiness owners love #AI.", "Small Business owners love AI."),
    ("Ranked #1.", "Ranked number one."),
    ('Pause here <break time="2s"/> and go on.', "Pause here and go on."),
    ("A <b>bold</b> move &amp; more.", "A bold move and more."),
    ("Read [the guide](https://example.com/guide).", "Read the guide."),
    ("Call 1-800-555-0199 now.", "Call one, eight zero zero, five five five, zero one nine nine now."),
    ("It costs $ 5, not $.", "It costs five dollars, not."),
    ("Only 5 € or ~10 people.", "Only five euros or about ten people."),
    ("Scores > 90 win.", "Scores more than ninety win."),
    ("Node.js and e.g. apples.", "Node.js and for example apples."),
    ("Title\n=====\n\nText.\n\n---\n\nEnd.", "Title\n\nText.\n\nEnd."),
]


@pytest.mark.parametrize("text, spoken", SYMBOL_CASES)
def test_signs_and_addresses_are_spoken_in_words(text: str, spoken: str) -> None:
    assert normalize(text, "en") == spoken


@pytest.mark.parametrize("text", [text for text, _ in SYMBOL_CASES if "e.g." not in text] + [
    "It costs $1,250.50 today.", "A $1.5 million deal.", "Sales grew 45% then 3.5%.", "It is 20°C.",
])
def test_the_check_expects_what_the_voice_was_given(text: str) -> None:
    """QA's comparison form of the script equals that of the words the voice said."""
    from qa.text_metrics import normalize as comparison_form

    assert comparison_form(text, "en") == comparison_form(normalize(text, "en"), "en")


@pytest.mark.parametrize("script, heard", [
    # Whisper base's transcripts of the bundled voice reading these scripts (bench_qa_wer.py --symbols)
    ("Plans start at $9/month, and the yearly plan saves 20%.", "plans start at $9 per month and the yearly plan saves 20%."),
    ("Visit example.com/pricing to compare every plan.", "Visit example.com slash pricing to compare every plan."),
    ("Questions? Write to help@example.com.", "Questions? Write to help at example.com."),
    ("Our Q&A session starts at 5 pm on Friday.", "Our Q&A session starts at 5pm on Friday."),
    ("In this lesson, x = 5 and y = 10.", "In this lesson, X equals 5 and Y equals 10."),
    ("Support is open 24/7, by phone or by chat.", "Support is Open247 by Phone or by Chat."),
    ("Support is open 24/7, by phone or by chat.", "Support is open 24-7 by phone or by chat."),
    ("Each room is 20 m² with a view of the park.", "Each room is 20 square meters with a view of the park."),
    ("Use code SAVE10 at checkout & get 10% off.", "Use code save 10 at checkout and get 10% off."),
    ("Call 1-800-555-0199 today.", "Call 1-800-5550-199 today."),
    ("A $1.5 million deal.", "a one point five million dollars deal"),
    ('Take a deep breath. <break time="2s"/> Now breathe out.', "Take a deep breath. Now breathe out."),
    ("Share your photos with #SmallBusiness.", "Share your photos with small business."),
    ("Get 10% off at checkout, then sign-ups grow.", "Get 10% off at check out, then signups grow."),
])
def test_the_check_accepts_how_whisper_writes_the_spoken_signs(script: str, heard: str) -> None:
    from qa.text_metrics import error_rate

    result = error_rate(script, heard, "en")
    assert result.rate == 0.0, result.differences()
