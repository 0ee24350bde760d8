//! Property tests for grouping: ids in a message never split its group, no
//! input makes parsing or signing panic, and signatures are well-formed and
//! deterministic: they depend on the configuration and, for message-only
//! events, on the templates learned, never on the instance or the process.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use suture_actors::domain::event::{Event, Frame};
use suture_actors::domain::signature::{SignatureConfig, Signer};
use suture_actors::domain::stack::parse_stack;
use suture_actors::domain::template::{TemplateConfig, TemplateSet};

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER
        .get_or_init(|| Signer::new(&SignatureConfig::default()).expect("default config compiles"))
}

/// A second, independently compiled signer on the first one's templates
/// (as a restart restores them): ids must not depend on the instance (nor
/// on the process: no randomly seeded hashing anywhere).
fn other_signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        Signer::new(&SignatureConfig::default())
            .expect("default config compiles")
            .with_templates(signer().templates().cloned())
    })
}

/// A signer that has learned nothing yet (the masks compiled once, shared).
fn fresh_signer() -> Signer {
    static BASE: OnceLock<Signer> = OnceLock::new();
    BASE.get_or_init(|| Signer::new(&SignatureConfig::default()).expect("default config compiles"))
        .clone()
        .with_templates(Some(Arc::new(TemplateSet::new(TemplateConfig::default()))))
}

// --- ids ---------------------------------------------------------------------

/// The kinds of variable value a message can carry.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Uuid,
    Hex,
    Number,
    Email,
    Ipv4,
    Ipv6,
    Timestamp,
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        Just(Slot::Uuid),
        Just(Slot::Hex),
        Just(Slot::Number),
        Just(Slot::Email),
        Just(Slot::Ipv4),
        Just(Slot::Ipv6),
        Just(Slot::Timestamp),
    ]
}

/// Hex ids with at least one letter and one digit: an all-digit id is a
/// number (`<n>`) and an all-letter one a word, by design.
fn hex_id() -> impl Strategy<Value = String> {
    "[0-9a-f]{7,32}".prop_filter("needs a letter and a digit", |s| {
        s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

fn ipv4() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), proptest::option::of(any::<u16>())).prop_map(|(octets, port)| {
        let address = octets.map(|o| o.to_string()).join(".");
        port.map_or(address.clone(), |p| format!("{address}:{p}"))
    })
}

fn ipv6() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u16; 8]>().prop_map(|groups| groups.map(|g| format!("{g:x}")).join(":")),
        (any::<u16>(), any::<u16>(), any::<u16>())
            .prop_map(|(a, b, c)| format!("{a:x}:{b:x}::{c:x}")),
        (any::<u16>(), any::<u16>()).prop_map(|(a, port)| format!("[::{a:x}]:{port}")),
    ]
}

fn timestamp() -> impl Strategy<Value = String> {
    let date = (1970u32..2100, 1u32..=12, 1u32..=28);
    let time = (
        0u32..24,
        0u32..60,
        0u32..60,
        proptest::option::of(0u32..1000),
    );
    let zone = prop_oneof![
        Just(String::from("Z")),
        Just(String::new()),
        (0u32..14).prop_map(|h| format!("+{h:02}:00"))
    ];
    let separator = prop_oneof![Just('T'), Just(' ')];
    (date, time, zone, separator).prop_map(|((y, mo, d), (h, mi, s, ms), zone, sep)| {
        let fraction = ms.map_or(String::new(), |ms| format!(".{ms:03}"));
        format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{fraction}{zone}")
    })
}

fn value(slot: Slot) -> BoxedStrategy<String> {
    match slot {
        Slot::Uuid => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".boxed(),
        Slot::Hex => hex_id().boxed(),
        Slot::Number => any::<i64>().prop_map(|n| n.to_string()).boxed(),
        Slot::Email => "[a-z][a-z0-9]{0,8}(\\.[a-z0-9]{1,5})?@[a-z]{2,10}\\.(com|org|io)".boxed(),
        Slot::Ipv4 => ipv4().boxed(),
        Slot::Ipv6 => ipv6().boxed(),
        Slot::Timestamp => timestamp().boxed(),
    }
}

/// Plain words (none of them a unit such as `ms` or `MB`, which would turn a
/// neighbouring number into a duration or a size).
const WORDS: &[&str] = &[
    "failed",
    "for",
    "user",
    "order",
    "at",
    "from",
    "request",
    "timeout",
    "connection",
    "reset",
    "(",
    ")",
    "utf8",
    "v2",
    "GET",
    "id",
    "=",
    "->",
    "tenant",
    "retrying",
];

#[derive(Debug, Clone)]
enum Part {
    Word(&'static str),
    Slot(Slot),
}

fn template() -> impl Strategy<Value = Vec<Part>> {
    let part = prop_oneof![
        proptest::sample::select(WORDS).prop_map(Part::Word),
        slot().prop_map(Part::Slot),
    ];
    proptest::collection::vec(part, 1..10)
}

/// A template with two independent fillings of its slots.
fn two_fillings() -> impl Strategy<Value = (String, String)> {
    template().prop_flat_map(|parts| {
        let filling = || {
            parts
                .iter()
                .map(|part| match part {
                    Part::Word(word) => Just((*word).to_owned()).boxed(),
                    Part::Slot(slot) => value(*slot),
                })
                .collect::<Vec<_>>()
        };
        (filling(), filling()).prop_map(|(a, b)| (a.join(" "), b.join(" ")))
    })
}

fn logged(message: &str) -> Event {
    Event {
        exception_type: Some("Error".to_owned()),
        message: message.to_owned(),
        module: Some("app.jobs".to_owned()),
        function: Some("run".to_owned()),
        ..Event::default()
    }
}

// --- arbitrary input -----------------------------------------------------------

/// Lines in the shape of every supported format, to reach deep into the
/// parsers, mixed with arbitrary text.
fn stack_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        any::<String>(),
        "[A-Za-z.]{0,12}(Error|Exception)?: .{0,20}",
        "    at .{0,12}( \\(.{0,20}(:[0-9]{0,4}){0,2}\\))?",
        "\tat [a-z.$/]{0,20}\\(.{0,12}(:[0-9]{0,3})?\\)( ~\\[.{0,5}\\])?",
        ".{0,8}@.{0,20}(:[0-9]{0,4}){0,2}",
        "  File \".{0,12}\", line [0-9]{0,3}(, in .{0,8})?",
        "Traceback \\(most recent call last\\):",
        "goroutine [0-9]{1,3} \\[running\\]:",
        "[a-z./()*]{0,16}\\(.{0,6}\\)",
        "\t.{0,16}(:[0-9]{0,3})?( \\+0x[0-9a-f]{0,3})?",
        "(Caused by|Suppressed|created by|eval at) .{0,16}",
    ];
    proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

fn arbitrary_frame() -> impl Strategy<Value = Frame> {
    (
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(filename, function, module, in_app)| Frame {
            filename,
            function,
            module,
            in_app,
            ..Frame::default()
        })
}

fn arbitrary_event() -> impl Strategy<Value = Event> {
    (
        proptest::option::of(any::<String>()),
        any::<String>(),
        proptest::collection::vec(arbitrary_frame(), 0..6),
        proptest::option::of(stack_like()),
        proptest::option::of(proptest::collection::vec(any::<String>(), 0..3)),
    )
        .prop_map(
            |(exception_type, message, frames, raw_stack, fingerprint)| Event {
                exception_type,
                message,
                frames,
                raw_stack,
                fingerprint,
                ..Event::default()
            },
        )
}

fn is_signature_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn other_ids_never_change_the_signature((a, b) in two_fillings()) {
        let (sa, sb) = (signer().sign(&logged(&a)), signer().sign(&logged(&b)));
        prop_assert_eq!(&sa.title, &sb.title, "\n  a: {}\n  b: {}", a, b);
        prop_assert_eq!(sa.id, sb.id);
    }

    #[test]
    fn parse_stack_never_panics(stack in prop_oneof![any::<String>(), stack_like()]) {
        prop_assert_eq!(parse_stack(&stack), parse_stack(&stack));
    }

    #[test]
    fn signatures_are_well_formed_and_deterministic(event in arbitrary_event()) {
        let first = signer().sign(&event);
        prop_assert!(is_signature_id(&first.id), "bad id {}", first.id);
        prop_assert!(first.title.chars().count() <= 200);
        prop_assert_eq!(&first, &signer().sign(&event));
        // The grouping is the same for any signer. The title of a
        // frames-based group is the first masked message that signer saw for
        // it (a per-signer cache), so only the grouping is compared across signers.
        let fresh = other_signer().sign(&event);
        prop_assert_eq!(&first.id, &fresh.id);
        prop_assert_eq!(first.basis, fresh.basis);
        prop_assert_eq!(&first.culprit, &fresh.culprit);
    }

    /// Two signers that learn the same lines in the same order give the
    /// same ids: learned grouping depends on the history, not on chance.
    #[test]
    fn the_same_history_gives_the_same_ids(
        messages in proptest::collection::vec(
            prop_oneof![two_fillings().prop_map(|(a, _)| a), any::<String>(), stack_like()],
            1..40,
        )
    ) {
        let (a, b) = (fresh_signer(), fresh_signer());
        for message in &messages {
            let event = logged(message);
            prop_assert_eq!(a.sign(&event).id, b.sign(&event).id, "{}", message);
        }
    }

    #[test]
    fn raw_text_as_stack_and_message_never_panics(text in prop_oneof![any::<String>(), stack_like()]) {
        let event = Event { message: text.clone(), raw_stack: Some(text), ..Event::default() };
        prop_assert!(is_signature_id(&signer().sign(&event).id));
    }
}
