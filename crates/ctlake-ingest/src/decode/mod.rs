//! Decodes CloudTrail records straight into Arrow column builders.
//!
//! There is no per-record DOM: each record is walked once by `crate::tape`, which validates
//! it, compacts it into `eventjson` and indexes its values; each value then goes from the tape
//! to the builder of its column, found by the lowercase form of its key (the table contract in
//! `ctlake_schema::schema`). Nested objects fill struct columns the same way, and objects stored
//! as maps follow the JSON-to-map rule of `ctlake_schema::jsonmap`.
//!
//! CloudTrail's types drift between records (`maxResults` a number or a string, `readOnly` as
//! `"true"`, `resources` as one object). The rule: convert when the meaning is unambiguous,
//! otherwise store null; a record is never rejected for a drifting type, and `eventjson` keeps
//! it whole. A record is rejected only when it cannot be placed in a partition: not a JSON
//! object, no parseable `eventTime`, or an `awsRegion` that is not safe as a path segment.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, ListArray, MapBuilder, MapFieldNames, StringBuilder,
    StructArray, TimestampMicrosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use ctlake_schema::jsonmap::Strings;
use ctlake_schema::jsonmap::{self, Kind};
use ctlake_schema::layout::{PartitionError, PartitionKey};
use ctlake_schema::schema::{AWS_REGION, EVENT_ID, EVENT_JSON, EVENT_JSON_CHECKSUM, EVENT_TIME};
use rustc_hash::FxHashMap;
use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::tape::Tape;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod reference;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

/// Why a record was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// One line saying why.
    pub reason: String,
    /// Whether the record looked like a CloudTrail event at all (had `eventVersion`,
    /// `eventTime`, `eventName`, `eventSource` or `eventID`). A file none of whose records do
    /// is not CloudTrail, and is skipped rather than rejected record by record.
    pub event_like: bool,
}

impl Reject {
    fn new(reason: impl Into<String>, event_like: bool) -> Self {
        Self {
            reason: reason.into(),
            event_like,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// An object key: borrowed from the input unless it contains escapes. (serde's own `Cow`
/// impl always allocates, which cost one allocation per key of every record.)
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Most CloudTrail objects have fewer than 32 keys: they stay on the stack.
type Pairs<'a> = SmallVec<[(Key<'a>, &'a RawValue); 32]>;

/// Parses a JSON object into borrowed key/raw-value pairs (in document order).
fn object_pairs(json: &str) -> Result<Pairs<'_>, serde_json::Error> {
    struct PairsVisitor;
    impl<'de> Visitor<'de> for PairsVisitor {
        type Value = Pairs<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Pairs::new();
            while let Some(key) = map.next_key::<Key<'de>>()? {
                let value: &'de RawValue = map.next_value()?;
                pairs.push((key, value));
            }
            Ok(pairs)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let pairs = (&mut de).deserialize_map(PairsVisitor)?;
    de.end()?;
    Ok(pairs)
}

/// Finds a key that appears twice in one object, anywhere in the record (at the top level,
/// keys that differ only in ASCII case count as the same, since columns are matched that
/// way; below it they are different keys: S3's `{"tag":1,"Tag":[...]}` is real CloudTrail). Such a record
/// has two readings (columns took the first value, the `json_*` functions the last, so the
/// partition followed one `eventTime` and `eventjson` said another) and is rejected. Nesting
/// beyond serde_json's 128 levels is refused here too, which is exactly what the `json_*`
/// functions can read: no record is stored that they would see as NULL.
pub(crate) fn duplicate_key(json: &str) -> Result<(), String> {
    struct Check {
        top: bool,
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys: SmallVec<[Key<'de>; 32]> = SmallVec::new();
            let mut many: Option<rustc_hash::FxHashSet<String>> = None;
            let fold = |k: &str| {
                if self.top {
                    k.to_ascii_lowercase()
                } else {
                    k.to_string()
                }
            };
            while let Some(key) = map.next_key::<Key<'de>>()? {
                let dup = match &mut many {
                    Some(set) => set.contains(&fold(&key.0)),
                    None if self.top => keys.iter().any(|k| k.0.eq_ignore_ascii_case(&key.0)),
                    None => keys.iter().any(|k| k.0 == key.0),
                };
                if dup {
                    return Err(serde::de::Error::custom(format!(
                        "duplicate key {:?}",
                        key.0
                    )));
                }
                if many.is_none() && keys.len() == 32 {
                    // A large object: a set, not a scan per key.
                    many = Some(keys.drain(..).map(|k| fold(&k.0)).collect());
                }
                match &mut many {
                    Some(set) => {
                        set.insert(fold(&key.0));
                    }
                    None => keys.push(key),
                }
                map.next_value_seed(Check { top: false })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Check { top: false })?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    serde::de::DeserializeSeed::deserialize(Check { top: true }, &mut de).map_err(|e| {
        let message = e.to_string();
        if message.contains("recursion limit") {
            "nested more than 128 levels deep".to_string()
        } else {
            message
        }
    })
}

/// Parses the timestamps CloudTrail writes: RFC 3339 with or without fractions and offsets,
/// and the same without a zone (taken as UTC). Returns microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // Fast path for the delivered form `2024-05-01T12:34:56Z`.
    if b.len() == 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[19] == b'Z' {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut n = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + (c - b'0') as u32;
            }
            Some(n)
        };
        if b[13] == b':' && b[16] == b':' {
            let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
            let t = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// The text of the JSON string at node `at`, decoded; `None` if the value is not a string.
fn str_value<'a>(tape: &Tape, json: &'a str, at: usize) -> Option<Cow<'a, str>> {
    let node = tape.nodes[at];
    if node.kind != Kind::String {
        return None;
    }
    let literal = &json[node.start as usize..node.end as usize];
    if !node.escaped {
        return Some(Cow::Borrowed(&literal[1..literal.len() - 1]));
    }
    let mut s = String::with_capacity(literal.len());
    jsonmap::unescape_into(literal, &mut s);
    Some(Cow::Owned(s))
}

/// The bytes of node `at`, as delivered.
fn text<'a>(tape: &Tape, json: &'a str, at: usize) -> &'a str {
    let node = tape.nodes[at];
    &json[node.start as usize..node.end as usize]
}

/// The names of the event schema's map fields.
fn map_field_names() -> MapFieldNames {
    MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

/// Finishes a string builder and starts it again at the size it reached: a decoder's next
/// chunk of the same partition is about as large, and growing by doubling from a small
/// buffer copied every byte once more and faulted in each new page (6% of an ingest's CPU).
/// A partition that gets no rows in a chunk loses its builders (`Decoder::take`), so the
/// memory held this way is at most one chunk's.
fn finish_sized(b: &mut StringBuilder) -> arrow::array::StringArray {
    let array = b.finish();
    *b = StringBuilder::with_capacity(array.len(), array.values().len());
    array
}

/// Builds one column (of any type in the event schema) value by value.
enum Column {
    Utf8(StringBuilder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Map(Box<MapBuilder<StringBuilder, StringBuilder>>),
    Struct(Box<StructColumn>),
    List(Box<ListColumn>),
}

struct StructColumn {
    fields: Fields,
    children: Vec<Column>,
    /// Lowercase column name to child index.
    index: FxHashMap<String, usize>,
    /// Key spellings met so far to child index (or [`NO_CHILD`]): CloudTrail keys are
    /// camelCase, and this finds them in one probe instead of a lowercase copy and two.
    spellings: FxHashMap<Box<str>, u32>,
    nulls: NullBufferBuilder,
}

const NO_CHILD: u32 = u32::MAX;
/// Bound on learned spellings, so hostile input with endless distinct keys costs no memory.
const MAX_SPELLINGS: usize = 512;

struct ListColumn {
    field: FieldRef,
    child: Column,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

/// Per-record scratch space reused across records.
#[derive(Default)]
struct Scratch {
    text: String,
    key: String,
    /// An escaped key, decoded.
    unescaped: String,
}

impl Scratch {
    /// The text of the key at node `at` (decoded into `unescaped` when it has escapes), with
    /// the lowercase buffer `key` free for the lookup.
    fn key<'a>(&'a mut self, tape: &Tape, json: &'a str, at: usize) -> (&'a str, &'a mut String) {
        let node = tape.nodes[at];
        let literal = &json[node.start as usize..node.end as usize];
        if node.escaped {
            self.unescaped.clear();
            jsonmap::unescape_into(literal, &mut self.unescaped);
            (&self.unescaped, &mut self.key)
        } else {
            (&literal[1..literal.len() - 1], &mut self.key)
        }
    }
}

impl Column {
    fn new(data_type: &DataType) -> Self {
        match data_type {
            // Small initial capacities: a decoder keeps builders for every partition it sees,
            // most columns are sparse, and builders grow geometrically anyway.
            DataType::Utf8 => Column::Utf8(StringBuilder::with_capacity(64, 1024)),
            DataType::Boolean => Column::Bool(BooleanBuilder::with_capacity(64)),
            DataType::Timestamp(_, _) => {
                Column::Timestamp(TimestampMicrosecondBuilder::with_capacity(64))
            }
            DataType::Map(_, _) => Column::Map(Box::new(MapBuilder::new(
                Some(map_field_names()),
                StringBuilder::with_capacity(64, 1024),
                StringBuilder::with_capacity(64, 1024),
            ))),
            DataType::Struct(fields) => Column::Struct(Box::new(StructColumn::new(fields, &[]))),
            DataType::List(field) => Column::List(Box::new(ListColumn {
                field: field.clone(),
                child: Column::new(field.data_type()),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            })),
            other => unreachable!("the event schema has no {other} column"),
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Utf8(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::Timestamp(b) => b.append_null(),
            Column::Map(b) => {
                // A null map still needs an (empty) entry run; this cannot fail for a map
                // whose key and value counts agree, which append keeps true.
                let _ = b.append(false);
            }
            Column::Struct(s) => s.append_null(),
            Column::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                l.offsets.push(last);
                l.nulls.append_null();
            }
        }
    }

    /// Appends the value at node `at` of the tape.
    fn append(&mut self, tape: &Tape, json: &str, at: usize, scratch: &mut Scratch) {
        let kind = tape.nodes[at].kind;
        if kind == Kind::Null {
            return self.append_null();
        }
        match self {
            Column::Utf8(b) => match kind {
                Kind::String => match str_value(tape, json, at) {
                    Some(s) => b.append_value(s),
                    None => b.append_null(),
                },
                Kind::Number | Kind::Bool => b.append_value(text(tape, json, at)),
                _ => {
                    scratch.text.clear();
                    jsonmap::compact_into(
                        text(tape, json, at),
                        Strings::Canonical,
                        &mut scratch.text,
                    );
                    b.append_value(&scratch.text);
                }
            },
            Column::Bool(b) => {
                let value = match kind {
                    Kind::Bool => Some(json.as_bytes()[tape.nodes[at].start as usize] == b't'),
                    Kind::String => str_value(tape, json, at).and_then(|s| {
                        if s.eq_ignore_ascii_case("true") {
                            Some(true)
                        } else if s.eq_ignore_ascii_case("false") {
                            Some(false)
                        } else {
                            None
                        }
                    }),
                    _ => None,
                };
                b.append_option(value);
            }
            Column::Timestamp(b) => {
                let value = match kind {
                    Kind::String => str_value(tape, json, at).and_then(|s| parse_timestamp(&s)),
                    _ => None,
                };
                b.append_option(value);
            }
            Column::Map(b) => {
                if kind == Kind::Object {
                    for (k, v) in tape.members(at) {
                        let (key, _) = scratch.key(tape, json, k);
                        b.keys().append_value(key);
                        let node = tape.nodes[v];
                        match node.kind {
                            Kind::Null => b.values().append_null(),
                            // The common case, a plain string, straight from the bytes.
                            Kind::String if !node.escaped => b.values().append_value(
                                &json[node.start as usize + 1..node.end as usize - 1],
                            ),
                            _ => {
                                scratch.text.clear();
                                jsonmap::map_value_into(text(tape, json, v), &mut scratch.text);
                                b.values().append_value(&scratch.text);
                            }
                        }
                    }
                    let _ = b.append(true);
                } else {
                    let _ = b.append(false);
                }
            }
            Column::Struct(s) => match kind {
                Kind::Object => s.append_object(tape, json, at, scratch),
                _ => s.append_null(),
            },
            Column::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                let count = match kind {
                    Kind::Array => {
                        let mut count = 0;
                        for item in tape.items(at) {
                            l.child.append(tape, json, item, scratch);
                            count += 1;
                        }
                        Some(count)
                    }
                    // `resources` delivered as one object is unambiguous: a list of one.
                    Kind::Object => {
                        l.child.append(tape, json, at, scratch);
                        Some(1)
                    }
                    _ => None,
                };
                match count {
                    Some(n) => {
                        l.offsets.push(last + n);
                        l.nulls.append_non_null();
                    }
                    None => {
                        l.offsets.push(last);
                        l.nulls.append_null();
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Utf8(b) => Arc::new(finish_sized(b)),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Timestamp(b) => Arc::new(b.finish()),
            Column::Map(b) => {
                // As `finish_sized`, for the entries too.
                let map = b.finish();
                let bytes = |a: &ArrayRef| a.as_string_opt::<i32>().map_or(0, |s| s.values().len());
                let entries = map.keys().len();
                **b = MapBuilder::with_capacity(
                    Some(map_field_names()),
                    StringBuilder::with_capacity(entries, bytes(map.keys())),
                    StringBuilder::with_capacity(entries, bytes(map.values())),
                    map.len(),
                );
                Arc::new(map)
            }
            Column::Struct(s) => Arc::new(s.finish()),
            Column::List(l) => {
                let values = l.child.finish();
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                Arc::new(ListArray::new(
                    l.field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    values,
                    l.nulls.finish(),
                ))
            }
        }
    }
}

impl StructColumn {
    /// A struct builder; fields named in `computed` are filled by the caller, not from JSON.
    fn new(fields: &Fields, computed: &[&str]) -> Self {
        let mut index = FxHashMap::default();
        for (i, f) in fields.iter().enumerate() {
            if !computed.contains(&f.name().as_str()) {
                index.insert(f.name().clone(), i);
            }
        }
        Self {
            fields: fields.clone(),
            children: fields.iter().map(|f| Column::new(f.data_type())).collect(),
            index,
            spellings: FxHashMap::default(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    fn child_index(&mut self, key: &str, scratch: &mut String) -> Option<usize> {
        if let Some(&i) = self.spellings.get(key) {
            return (i != NO_CHILD).then_some(i as usize);
        }
        scratch.clear();
        scratch.push_str(key);
        scratch.make_ascii_lowercase();
        let found = self.index.get(scratch.as_str()).copied();
        if self.spellings.len() < MAX_SPELLINGS {
            self.spellings
                .insert(key.into(), found.map_or(NO_CHILD, |i| i as u32));
        }
        found
    }

    /// Appends the object at node `at`, key by key, straight into the children. The first of
    /// duplicate keys wins (records with duplicates are refused before this, but a struct
    /// never takes two values); children the object lacks get nulls.
    fn append_object(&mut self, tape: &Tape, json: &str, at: usize, scratch: &mut Scratch) {
        let mut seen = Seen::default();
        self.append_members(tape, json, at, scratch, &mut seen);
        self.fill_unseen(&seen);
        self.nulls.append_non_null();
    }

    /// Appends each member of the object at `at` whose key names a child not yet `seen`.
    fn append_members(
        &mut self,
        tape: &Tape,
        json: &str,
        at: usize,
        scratch: &mut Scratch,
        seen: &mut Seen,
    ) {
        for (k, v) in tape.members(at) {
            let (key, lower) = scratch.key(tape, json, k);
            if let Some(i) = self.child_index(key, lower)
                && seen.insert(i)
            {
                self.children[i].append(tape, json, v, scratch);
            }
        }
    }

    fn fill_unseen(&mut self, seen: &Seen) {
        for (i, child) in self.children.iter_mut().enumerate() {
            if !seen.contains(i) {
                child.append_null();
            }
        }
    }

    fn append_null(&mut self) {
        for child in &mut self.children {
            child.append_null();
        }
        self.nulls.append_null();
    }

    fn finish(&mut self) -> StructArray {
        let columns: Vec<ArrayRef> = self.children.iter_mut().map(|c| c.finish()).collect();
        StructArray::new(self.fields.clone(), columns, self.nulls.finish())
    }
}

/// Which children of a struct have a value in the current row.
#[derive(Default)]
struct Seen(u64, Vec<usize>);

impl Seen {
    fn insert(&mut self, i: usize) -> bool {
        if i < 64 {
            let bit = 1u64 << i;
            let new = self.0 & bit == 0;
            self.0 |= bit;
            new
        } else if self.1.contains(&i) {
            false
        } else {
            self.1.push(i);
            true
        }
    }

    fn contains(&self, i: usize) -> bool {
        if i < 64 {
            self.0 & (1u64 << i) != 0
        } else {
            self.1.contains(&i)
        }
    }
}

/// The rows decoded for one partition, with each row's deduplication key.
pub struct PartitionRows {
    /// The partition.
    pub key: PartitionKey,
    /// The rows, in the event schema.
    pub batch: RecordBatch,
    /// One key per row: a 128-bit hash of the row's `eventID`, or of its `eventjson` when it
    /// has none.
    pub ids: Vec<u128>,
}

/// The deduplication key of an event id.
pub fn id_key(event_id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(event_id.as_bytes())
}

struct PartitionBuilder {
    key: PartitionKey,
    /// `key`'s date as days since the epoch, as records are matched to partitions.
    days: i32,
    root: StructColumn,
    ids: Vec<u128>,
}

/// Decodes records into per-partition column builders.
pub struct Decoder {
    schema: SchemaRef,
    parts: Vec<PartitionBuilder>,
    /// (region, days since epoch) to index into `parts`.
    lookup: FxHashMap<(String, i32), usize>,
    /// The partition of the last record: most records go where the one before went, and
    /// this spares them the lookup (and its key's allocation).
    last: Option<usize>,
    event_json_col: usize,
    checksum_col: usize,
    time_col: usize,
    rows: usize,
    bytes: usize,
    scratch: Scratch,
    eventjson: String,
    tape: Tape,
}

pub(crate) const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The earliest `eventTime` accepted, 1990-01-01 (CloudTrail began in 2013): earlier ones are
/// a zero or garbage clock, and each would open a partition of its own.
const EARLIEST_TIME_US: i64 = 631_152_000_000_000;
/// The first `eventTime` refused, 2200-01-01: beyond it Arrow's nanosecond timestamps (which
/// `date_trunc` and friends use) overflow in 2262.
const LATEST_TIME_US: i64 = 7_258_118_400_000_000;

fn time_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// What a partition's empty builders hold (about 130 columns with their first buffers),
/// counted in [`Decoder::buffered_bytes`]: a file of 30,000 events on 30,000 dates holds
/// 30,000 builders, and without this the decoder saw a few megabytes where gigabytes were.
const PARTITION_BYTES: usize = 160 << 10;

impl Decoder {
    /// A decoder for the event schema.
    pub fn new(schema: SchemaRef) -> Self {
        let col = |name: &str| schema.index_of(name).expect("event schema column");
        Self {
            event_json_col: col(EVENT_JSON),
            checksum_col: col(EVENT_JSON_CHECKSUM),
            time_col: col(EVENT_TIME),
            schema,
            parts: Vec::new(),
            lookup: FxHashMap::default(),
            last: None,
            rows: 0,
            bytes: 0,
            scratch: Scratch::default(),
            eventjson: String::new(),
            tape: Tape::default(),
        }
    }

    /// Rows buffered since the last [`Decoder::take`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A rough count of the bytes buffered since the last [`Decoder::take`].
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Decodes one record and buffers it in its partition, or says why it was rejected.
    pub fn decode(&mut self, json: &[u8]) -> Result<(), Reject> {
        let json = std::str::from_utf8(json).map_err(|e| {
            // Still an event if it says so: the file is broken CloudTrail, not a foreign one.
            let event_like = [&b"\"eventTime\""[..], b"\"eventID\"", b"\"eventName\""]
                .iter()
                .any(|k| memchr::memmem::find(json, k).is_some());
            Reject::new(
                format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
                event_like,
            )
        })?;
        let trimmed = json.trim_start();
        if !trimmed.starts_with('{') {
            return Err(Reject::new("not a JSON object", false));
        }
        self.eventjson.clear();
        let parsed = self.tape.parse(json, &mut self.eventjson);
        // serde_json's own message for a broken record (its words and position), and its
        // verdict where the tape defers to it (escaped keys decode, or fail, only there).
        if parsed.is_err() || self.tape.suspect() {
            if let Err(e) = object_pairs(json) {
                return Err(Reject::new(format!("invalid JSON in record: {e}"), false));
            }
            if parsed.is_err() {
                // Not expected: the tape accepts what serde_json accepts.
                return Err(Reject::new("invalid JSON in record", false));
            }
        }
        let tape = &self.tape;

        let mut time = None;
        let mut region = None;
        let mut event_id = None;
        let mut event_like = false;
        for (k, v) in tape.members(0) {
            let (k, _) = self.scratch.key(tape, json, k);
            // The first of duplicate keys wins, as for every other column.
            if k.eq_ignore_ascii_case(EVENT_TIME) {
                time = time.or(Some(v));
                event_like = true;
            } else if k.eq_ignore_ascii_case(AWS_REGION) {
                region = region.or(Some(v));
            } else if k.eq_ignore_ascii_case(EVENT_ID) {
                event_id = event_id.or(Some(v));
                event_like = true;
            } else if ["eventversion", "eventname", "eventsource"]
                .iter()
                .any(|n| k.eq_ignore_ascii_case(n))
            {
                event_like = true;
            }
        }
        // The tape finds records with a duplicate key (or too deep, or with escapes serde must
        // judge); the byte scan or serde says which key, where.
        if tape.suspect()
            && let Err(why) = crate::keycheck::check(json).unwrap_or_else(|| duplicate_key(json))
        {
            return Err(Reject::new(format!("record refused: {why}"), event_like));
        }
        let time = match time {
            None => return Err(Reject::new("no eventTime", event_like)),
            Some(at) => match str_value(tape, json, at).and_then(|s| parse_timestamp(&s)) {
                Some(t) => t,
                None => {
                    return Err(Reject::new(
                        format!("eventTime {} is not a timestamp", text(tape, json, at)),
                        event_like,
                    ));
                }
            },
        };
        if !(EARLIEST_TIME_US..LATEST_TIME_US).contains(&time) {
            return Err(Reject::new(
                format!(
                    "eventTime {} is outside 1990-01-01 .. 2200-01-01: not a CloudTrail time",
                    time_text(time)
                ),
                event_like,
            ));
        }
        let region = match region.and_then(|at| str_value(tape, json, at)) {
            Some(r) => r,
            None => {
                return Err(Reject::new(
                    PartitionError::MissingRegion.to_string(),
                    event_like,
                ));
            }
        };
        let days = time.div_euclid(86_400_000_000) as i32;
        let last = self
            .last
            .filter(|&i| self.parts[i].days == days && self.parts[i].key.region == *region);
        let part = match last.or_else(|| self.lookup.get(&(region.to_string(), days)).copied()) {
            Some(i) => i,
            None => {
                let date = NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE)
                    .ok_or_else(|| Reject::new("eventTime out of range", event_like))?;
                let key = PartitionKey::new(&region, date)
                    .map_err(|e| Reject::new(e.to_string(), event_like))?;
                let root =
                    StructColumn::new(self.schema.fields(), &[EVENT_JSON, EVENT_JSON_CHECKSUM]);
                self.parts.push(PartitionBuilder {
                    key,
                    days,
                    root,
                    ids: Vec::new(),
                });
                self.lookup
                    .insert((region.to_string(), days), self.parts.len() - 1);
                self.bytes += PARTITION_BYTES;
                self.parts.len() - 1
            }
        };

        self.last = Some(part);
        // Into a buffer on the stack: `hex::encode` collects a String char by char.
        let mut checksum = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(self.eventjson.as_bytes()), &mut checksum)
            .expect("a SHA-256 digest is 32 bytes, 64 hex digits");
        let checksum = std::str::from_utf8(&checksum).expect("hex digits are ASCII");
        let id = match event_id.and_then(|at| str_value(tape, json, at)) {
            Some(id) => id_key(&id),
            None => id_key(&self.eventjson),
        };

        let pb = &mut self.parts[part];
        let root = &mut pb.root;
        let mut seen = Seen::default();
        // Computed columns first, so the keys of the record cannot fill them.
        seen.insert(self.event_json_col);
        seen.insert(self.checksum_col);
        seen.insert(self.time_col);
        if let Column::Utf8(b) = &mut root.children[self.event_json_col] {
            b.append_value(&self.eventjson);
        }
        if let Column::Utf8(b) = &mut root.children[self.checksum_col] {
            b.append_value(checksum);
        }
        // Already parsed: the column must agree with the partition.
        if let Column::Timestamp(b) = &mut root.children[self.time_col] {
            b.append_value(time);
        }
        root.append_members(tape, json, 0, &mut self.scratch, &mut seen);
        root.fill_unseen(&seen);
        root.nulls.append_non_null();
        pb.ids.push(id);
        self.rows += 1;
        // The record's text is held about twice: in `eventjson` and spread over the columns.
        self.bytes += 2 * self.eventjson.len() + 64;
        Ok(())
    }

    /// Hands over everything buffered, one batch per partition. The builders of partitions
    /// that had rows are kept (empty) for the next rows, with what they learned about key
    /// spellings; the others are dropped, so a decoder holds builders for the few partitions
    /// the walk is in, not for every partition of the run.
    pub fn take(&mut self) -> Vec<PartitionRows> {
        self.rows = 0;
        self.bytes = 0;
        self.last = None;
        let schema = self.schema.clone();
        let before = self.parts.len();
        self.parts.retain(|pb| !pb.ids.is_empty());
        if self.parts.len() != before {
            self.lookup = self
                .parts
                .iter()
                .enumerate()
                .map(|(i, pb)| ((pb.key.region.clone(), pb.days), i))
                .collect();
        }
        let mut out = Vec::new();
        for pb in &mut self.parts {
            let root = pb.root.finish();
            let (_, columns, _) = root.into_parts();
            out.push(PartitionRows {
                key: pb.key.clone(),
                batch: RecordBatch::try_new(schema.clone(), columns)
                    .expect("decoder columns match the event schema"),
                ids: std::mem::take(&mut pb.ids),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, MapArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use ctlake_schema::event_schema;

    fn decode_one(json: &str) -> PartitionRows {
        let mut d = Decoder::new(event_schema());
        d.decode(json.as_bytes()).unwrap();
        let mut parts = d.take();
        assert_eq!(parts.len(), 1);
        parts.remove(0)
    }

    fn string_col<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
        b.column_by_name(name).unwrap().as_string::<i32>()
    }

    fn map_get(m: &MapArray, row: usize, key: &str) -> Option<Option<String>> {
        let entries = m.value(row);
        let keys = entries.column(0).as_string::<i32>();
        let values = entries.column(1).as_string::<i32>();
        (0..keys.len())
            .find(|&i| keys.value(i) == key)
            .map(|i| values.is_valid(i).then(|| values.value(i).to_string()))
    }

    const RECORD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/Admin","userName":"Admin"},"attributes":{"creationDate":"2024-05-01T11:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-01T12:34:56Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","requestParameters":{"maxResults":5,"ratio":0.0,"flag":true,"name":"a\u003db","tags":{"k":"v"},"none":null},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-123"}]}},"requestID":"r-1","eventID":"e-1","readOnly":"true","resources":{"ARN":"arn:aws:ec2:us-east-1:111122223333:instance/i-123","accountId":"111122223333","type":"AWS::EC2::Instance"},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.us-east-1.amazonaws.com"},"unknownField":{"kept":"in eventjson"}}"#;

    #[test]
    fn decodes_every_kind_of_column() {
        let p = decode_one(RECORD);
        assert_eq!(p.key.to_string(), "region=us-east-1/date=2024-05-01");
        let b = &p.batch;
        assert_eq!(b.num_rows(), 1);
        assert_eq!(string_col(b, "eventname").value(0), "RunInstances");
        assert_eq!(string_col(b, "sourceipaddress").value(0), "198.51.100.7");
        assert_eq!(string_col(b, "requestid").value(0), "r-1");
        let t = b
            .column_by_name("eventtime")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_714_566_896_000_000);
        // `readOnly` as the string "true" is unambiguous.
        assert!(b.column_by_name("readonly").unwrap().as_boolean().value(0));
        assert!(
            b.column_by_name("managementevent")
                .unwrap()
                .as_boolean()
                .value(0)
        );

        let ui = b.column_by_name("useridentity").unwrap().as_struct();
        assert_eq!(
            ui.column_by_name("type")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "AssumedRole"
        );
        let sc = ui.column_by_name("sessioncontext").unwrap().as_struct();
        let si = sc.column_by_name("sessionissuer").unwrap().as_struct();
        assert_eq!(
            si.column_by_name("arn")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "arn:aws:iam::111122223333:role/Admin"
        );
        let attrs = sc.column_by_name("attributes").unwrap().as_struct();
        let created = attrs
            .column_by_name("creationdate")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(created.value(0), 1_714_561_200_000_000);
        assert!(ui.column_by_name("onbehalfof").unwrap().is_null(0));

        let rp = b.column_by_name("requestparameters").unwrap().as_map();
        assert_eq!(map_get(rp, 0, "maxResults"), Some(Some("5".into())));
        assert_eq!(map_get(rp, 0, "ratio"), Some(Some("0.0".into())));
        assert_eq!(map_get(rp, 0, "flag"), Some(Some("true".into())));
        assert_eq!(map_get(rp, 0, "name"), Some(Some("a=b".into())));
        assert_eq!(map_get(rp, 0, "tags"), Some(Some(r#"{"k":"v"}"#.into())));
        assert_eq!(map_get(rp, 0, "none"), Some(None));
        let re = b.column_by_name("responseelements").unwrap().as_map();
        assert_eq!(
            map_get(re, 0, "instancesSet"),
            Some(Some(r#"{"items":[{"instanceId":"i-123"}]}"#.into()))
        );
        assert!(b.column_by_name("additionaleventdata").unwrap().is_null(0));

        // `resources` as one object becomes a list of one, with `ARN` in `arn`.
        let res = b.column_by_name("resources").unwrap().as_list::<i32>();
        let item = res.value(0);
        let item = item.as_struct();
        assert_eq!(item.len(), 1);
        assert_eq!(
            item.column_by_name("arn")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "arn:aws:ec2:us-east-1:111122223333:instance/i-123"
        );
        let tls = b.column_by_name("tlsdetails").unwrap().as_struct();
        assert_eq!(
            tls.column_by_name("tlsversion")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "TLSv1.3"
        );

        // Nothing is lost: the unknown field is in eventjson, and the checksum is its SHA-256.
        let ej = string_col(b, "eventjson").value(0);
        assert_eq!(ej, RECORD);
        assert_eq!(
            string_col(b, "eventjsonchecksum").value(0),
            hex::encode(Sha256::digest(RECORD.as_bytes()))
        );
        assert_eq!(p.ids, vec![id_key("e-1")]);
    }

    #[test]
    fn drifting_types_become_null_not_rejects() {
        let p = decode_one(
            r#"{"eventTime":"2024-05-01T00:00:00.123+02:00","awsRegion":"eu-west-1","eventID":"x","readOnly":"maybe","userIdentity":"not an object","resources":"nope","requestParameters":[1,2],"errorCode":12}"#,
        );
        let b = &p.batch;
        // The offset moves the event to the previous UTC day.
        assert_eq!(p.key.to_string(), "region=eu-west-1/date=2024-04-30");
        assert!(b.column_by_name("readonly").unwrap().is_null(0));
        assert!(b.column_by_name("useridentity").unwrap().is_null(0));
        assert!(b.column_by_name("resources").unwrap().is_null(0));
        assert!(b.column_by_name("requestparameters").unwrap().is_null(0));
        assert_eq!(string_col(b, "errorcode").value(0), "12");
    }

    #[test]
    fn rejects_say_why() {
        let mut d = Decoder::new(event_schema());
        let reason = |d: &mut Decoder, s: &str| d.decode(s.as_bytes()).unwrap_err();
        assert_eq!(
            reason(&mut d, r#"{"eventID":"x","awsRegion":"us-east-1"}"#).reason,
            "no eventTime"
        );
        assert!(reason(&mut d, r#"{"eventID":"x","awsRegion":"us-east-1"}"#).event_like);
        assert!(
            reason(
                &mut d,
                r#"{"eventTime":"yesterday","awsRegion":"us-east-1"}"#
            )
            .reason
            .contains("not a timestamp")
        );
        assert!(
            reason(
                &mut d,
                r#"{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"../../x"}"#
            )
            .reason
            .contains("not a safe partition value")
        );
        assert_eq!(
            reason(&mut d, r#"{"eventTime":"2024-05-01T00:00:00Z"}"#).reason,
            "no awsRegion"
        );
        assert!(
            reason(&mut d, r#"{"eventTime" 1}"#)
                .reason
                .starts_with("invalid JSON")
        );
        // Two readings of one record are refused, at any depth and in any case.
        assert_eq!(
            reason(
                &mut d,
                r#"{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"us-east-1","eventTime":"2025-01-01T00:00:00Z"}"#
            )
            .reason,
            r#"record refused: duplicate key "eventTime" at line 1 column 71"#
        );
        assert!(
            reason(
                &mut d,
                r#"{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"us-east-1","userIdentity":{"type":"Root","type":"IAMUser"}}"#
            )
            .reason
            .starts_with(r#"record refused: duplicate key "type""#)
        );
        assert!(
            reason(
                &mut d,
                r#"{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"us-east-1","EventTime":"2025-01-01T00:00:00Z"}"#
            )
            .reason
            .starts_with(r#"record refused: duplicate key "EventTime""#)
        );
        // Below the top level, keys differing in case are different keys (real S3 events).
        Decoder::new(event_schema())
            .decode(
                br#"{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"us-east-1","requestParameters":{"tag":1,"Tag":[{"tag":1}]}}"#,
            )
            .unwrap();
        let deep = format!(
            r#"{{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"us-east-1","requestParameters":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(
            reason(&mut d, &deep).reason,
            "record refused: nested more than 128 levels deep"
        );
        let digest = reason(&mut d, r#"{"awsAccountId":"1","digestStartTime":"x"}"#);
        assert!(!digest.event_like);
        assert_eq!(d.rows(), 0);
    }

    #[test]
    fn timestamps_in_every_delivered_form() {
        let base = 1_714_566_896_000_000;
        assert_eq!(parse_timestamp("2024-05-01T12:34:56Z"), Some(base));
        assert_eq!(
            parse_timestamp("2024-05-01T12:34:56.250Z"),
            Some(base + 250_000)
        );
        assert_eq!(parse_timestamp("2024-05-01T14:34:56+02:00"), Some(base));
        assert_eq!(parse_timestamp("2024-05-01T12:34:56"), Some(base));
        assert_eq!(parse_timestamp("2024-05-01 12:34:56"), Some(base));
        assert_eq!(parse_timestamp("2024-13-01T12:34:56Z"), None);
        assert_eq!(parse_timestamp("2024-05-01T12:34:5xZ"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn rows_of_several_partitions_are_kept_apart() {
        let mut d = Decoder::new(event_schema());
        for (i, (r, t)) in [
            ("us-east-1", "2024-05-01T00:00:00Z"),
            ("us-west-2", "2024-05-01T00:00:00Z"),
            ("us-east-1", "2024-05-01T23:59:59Z"),
            ("us-east-1", "2024-05-02T00:00:00Z"),
        ]
        .iter()
        .enumerate()
        {
            let json = format!(r#"{{"eventID":"{i}","awsRegion":"{r}","eventTime":"{t}"}}"#);
            d.decode(json.as_bytes()).unwrap();
        }
        let parts = d.take();
        let summary: Vec<(String, usize)> = parts
            .iter()
            .map(|p| (p.key.to_string(), p.batch.num_rows()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("region=us-east-1/date=2024-05-01".to_string(), 2),
                ("region=us-west-2/date=2024-05-01".to_string(), 1),
                ("region=us-east-1/date=2024-05-02".to_string(), 1),
            ]
        );
        let t = parts[0]
            .batch
            .column_by_name("eventtime")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert!(t.is_valid(1));
    }
}
