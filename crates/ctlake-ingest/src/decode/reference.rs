//! Today's decoder as it was before the tape (`crate::tape`), kept unchanged for tests only:
//! the live decoder must produce exactly its rows and rejects (see `tests::differential`).
//! It parses each record with serde_json into raw pairs and re-parses nested values.

use std::borrow::Cow;
use std::fmt;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BooleanBuilder, ListArray, MapBuilder, MapFieldNames, StringBuilder, StructArray,
    TimestampMicrosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use ctlake_schema::jsonmap::{self, Kind, Strings};
use ctlake_schema::layout::{PartitionError, PartitionKey};
use ctlake_schema::schema::{AWS_REGION, EVENT_ID, EVENT_JSON, EVENT_JSON_CHECKSUM, EVENT_TIME};
use rustc_hash::FxHashMap;
use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use std::sync::Arc;

use super::{
    EARLIEST_TIME_US, LATEST_TIME_US, PartitionRows, Reject, UNIX_EPOCH_DAYS_FROM_CE,
    duplicate_key, id_key, parse_timestamp, time_text,
};

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

/// The text of a JSON string value, decoded; `None` if `raw` is not a string.
fn raw_str<'a>(raw: &'a RawValue) -> Option<Cow<'a, str>> {
    let text = raw.get();
    if jsonmap::kind(text) != Kind::String {
        return None;
    }
    let body = &text[1..text.len() - 1];
    if !body.contains('\\') {
        return Some(Cow::Borrowed(body));
    }
    let mut s = String::with_capacity(body.len());
    jsonmap::unescape_into(text, &mut s);
    Some(Cow::Owned(s))
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
                Some(MapFieldNames {
                    entry: "entries".into(),
                    key: "key".into(),
                    value: "value".into(),
                }),
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

    fn append(&mut self, raw: Option<&RawValue>, scratch: &mut Scratch) {
        let Some(raw) = raw else {
            return self.append_null();
        };
        let text = raw.get();
        let kind = jsonmap::kind(text);
        if kind == Kind::Null {
            return self.append_null();
        }
        match self {
            Column::Utf8(b) => match kind {
                Kind::String => match raw_str(raw) {
                    Some(s) => b.append_value(s),
                    None => b.append_null(),
                },
                Kind::Number | Kind::Bool => b.append_value(text.trim()),
                _ => {
                    scratch.text.clear();
                    jsonmap::compact_into(text, Strings::Canonical, &mut scratch.text);
                    b.append_value(&scratch.text);
                }
            },
            Column::Bool(b) => {
                let value = match kind {
                    Kind::Bool => Some(text.trim() == "true"),
                    Kind::String => raw_str(raw).and_then(|s| {
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
                    Kind::String => raw_str(raw).and_then(|s| parse_timestamp(&s)),
                    _ => None,
                };
                b.append_option(value);
            }
            Column::Map(b) => {
                if kind == Kind::Object {
                    let mut de = serde_json::Deserializer::from_str(text);
                    // The text was validated with the whole record, so this cannot fail
                    // part-way; each entry is appended whole (key with value) regardless.
                    let _ = de.deserialize_map(MapVisitor {
                        builder: b,
                        scratch,
                    });
                    let _ = b.append(true);
                } else {
                    let _ = b.append(false);
                }
            }
            Column::Struct(s) => match kind {
                Kind::Object => s.append_object(text, scratch),
                _ => s.append_null(),
            },
            Column::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                let count = match kind {
                    Kind::Array => {
                        let mut de = serde_json::Deserializer::from_str(text);
                        let mut count = 0;
                        let _ = de.deserialize_seq(ItemsVisitor {
                            child: &mut l.child,
                            scratch,
                            count: &mut count,
                        });
                        Some(count)
                    }
                    // `resources` delivered as one object is unambiguous: a list of one.
                    Kind::Object => {
                        l.child.append(Some(raw), scratch);
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
            Column::Utf8(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Timestamp(b) => Arc::new(b.finish()),
            Column::Map(b) => Arc::new(b.finish()),
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

    /// Appends one JSON object (already validated), key by key, straight into the children.
    /// The first of duplicate keys wins; children the object lacks get nulls.
    fn append_object(&mut self, json: &str, scratch: &mut Scratch) {
        let mut seen = Seen::default();
        let mut de = serde_json::Deserializer::from_str(json);
        let _ = de.deserialize_map(StructVisitor {
            col: self,
            scratch,
            seen: &mut seen,
        });
        self.fill_unseen(&seen);
        self.nulls.append_non_null();
    }

    /// Appends a value to child `i` unless the row already has one; marks it seen.
    fn append_child(&mut self, i: usize, raw: &RawValue, scratch: &mut Scratch, seen: &mut Seen) {
        if seen.insert(i) {
            self.children[i].append(Some(raw), scratch);
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

struct StructVisitor<'c> {
    col: &'c mut StructColumn,
    scratch: &'c mut Scratch,
    seen: &'c mut Seen,
}

impl<'de> Visitor<'de> for StructVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.col.child_index(&key.0, &mut self.scratch.key) {
                Some(i) => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.col.append_child(i, raw, self.scratch, self.seen);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct MapVisitor<'c> {
    builder: &'c mut MapBuilder<StringBuilder, StringBuilder>,
    scratch: &'c mut Scratch,
}

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            self.builder.keys().append_value(key.0);
            self.scratch.text.clear();
            if jsonmap::map_value_into(value.get(), &mut self.scratch.text) {
                self.builder.values().append_value(&self.scratch.text);
            } else {
                self.builder.values().append_null();
            }
        }
        Ok(())
    }
}

struct ItemsVisitor<'c> {
    child: &'c mut Column,
    scratch: &'c mut Scratch,
    count: &'c mut i32,
}

impl<'de> Visitor<'de> for ItemsVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            self.child.append(Some(v), self.scratch);
            *self.count += 1;
        }
        Ok(())
    }
}

struct PartitionBuilder {
    key: PartitionKey,
    root: StructColumn,
    ids: Vec<u128>,
}

/// Decodes records into per-partition column builders.
pub(super) struct Decoder {
    schema: SchemaRef,
    parts: Vec<PartitionBuilder>,
    /// (region, days since epoch) to index into `parts`.
    lookup: FxHashMap<(String, i32), usize>,
    event_json_col: usize,
    checksum_col: usize,
    time_col: usize,
    rows: usize,
    bytes: usize,
    scratch: Scratch,
    eventjson: String,
}

/// What a partition's empty builders hold (about 130 columns with their first buffers),
/// counted in [`Decoder::buffered_bytes`]: a file of 30,000 events on 30,000 dates holds
/// 30,000 builders, and without this the decoder saw a few megabytes where gigabytes were.
const PARTITION_BYTES: usize = 160 << 10;

impl Decoder {
    /// A decoder for the event schema.
    pub(super) fn new(schema: SchemaRef) -> Self {
        let col = |name: &str| schema.index_of(name).expect("event schema column");
        Self {
            event_json_col: col(EVENT_JSON),
            checksum_col: col(EVENT_JSON_CHECKSUM),
            time_col: col(EVENT_TIME),
            schema,
            parts: Vec::new(),
            lookup: FxHashMap::default(),
            rows: 0,
            bytes: 0,
            scratch: Scratch::default(),
            eventjson: String::new(),
        }
    }

    /// Rows buffered since the last [`Decoder::take`].
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// A rough count of the bytes buffered since the last [`Decoder::take`].
    pub(super) fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Decodes one record and buffers it in its partition, or says why it was rejected.
    pub(super) fn decode(&mut self, json: &[u8]) -> Result<(), Reject> {
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
        let pairs = object_pairs(json)
            .map_err(|e| Reject::new(format!("invalid JSON in record: {e}"), false))?;

        let mut time = None;
        let mut region = None;
        let mut event_id = None;
        let mut event_like = false;
        for (k, v) in &pairs {
            let k = k.0.as_ref();
            // The first of duplicate keys wins, as for every other column.
            if k.eq_ignore_ascii_case(EVENT_TIME) {
                time = time.or(Some(*v));
                event_like = true;
            } else if k.eq_ignore_ascii_case(AWS_REGION) {
                region = region.or(Some(*v));
            } else if k.eq_ignore_ascii_case(EVENT_ID) {
                event_id = event_id.or(Some(*v));
                event_like = true;
            } else if ["eventversion", "eventname", "eventsource"]
                .iter()
                .any(|n| k.eq_ignore_ascii_case(n))
            {
                event_like = true;
            }
        }
        // The byte scan where it can answer; serde where only a decoder can.
        if let Err(why) = crate::keycheck::check(json).unwrap_or_else(|| duplicate_key(json)) {
            return Err(Reject::new(format!("record refused: {why}"), event_like));
        }
        let time = match time {
            None => return Err(Reject::new("no eventTime", event_like)),
            Some(raw) => match raw_str(raw).and_then(|s| parse_timestamp(&s)) {
                Some(t) => t,
                None => {
                    return Err(Reject::new(
                        format!("eventTime {} is not a timestamp", raw.get()),
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
        let region = match region.and_then(raw_str) {
            Some(r) => r,
            None => {
                return Err(Reject::new(
                    PartitionError::MissingRegion.to_string(),
                    event_like,
                ));
            }
        };
        let days = time.div_euclid(86_400_000_000) as i32;
        let part = match self.lookup.get(&(region.to_string(), days)) {
            Some(&i) => i,
            None => {
                let date = NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE)
                    .ok_or_else(|| Reject::new("eventTime out of range", event_like))?;
                let key = PartitionKey::new(&region, date)
                    .map_err(|e| Reject::new(e.to_string(), event_like))?;
                let root =
                    StructColumn::new(self.schema.fields(), &[EVENT_JSON, EVENT_JSON_CHECKSUM]);
                self.parts.push(PartitionBuilder {
                    key,
                    root,
                    ids: Vec::new(),
                });
                self.lookup
                    .insert((region.to_string(), days), self.parts.len() - 1);
                self.bytes += PARTITION_BYTES;
                self.parts.len() - 1
            }
        };

        self.eventjson.clear();
        jsonmap::compact_into(json, Strings::Verbatim, &mut self.eventjson);
        let checksum = hex::encode(Sha256::digest(self.eventjson.as_bytes()));
        let id = match event_id.and_then(raw_str) {
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
            b.append_value(&checksum);
        }
        // Already parsed: the column must agree with the partition.
        if let Column::Timestamp(b) = &mut root.children[self.time_col] {
            b.append_value(time);
        }
        for (k, v) in &pairs {
            if let Some(i) = root.child_index(&k.0, &mut self.scratch.key) {
                root.append_child(i, v, &mut self.scratch, &mut seen);
            }
        }
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
    pub(super) fn take(&mut self) -> Vec<PartitionRows> {
        self.rows = 0;
        self.bytes = 0;
        let schema = self.schema.clone();
        let before = self.parts.len();
        self.parts.retain(|pb| !pb.ids.is_empty());
        if self.parts.len() != before {
            self.lookup = self
                .parts
                .iter()
                .enumerate()
                .map(|(i, pb)| {
                    let days = pb.key.date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE;
                    ((pb.key.region.clone(), days), i)
                })
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
