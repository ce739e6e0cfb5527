//! Every JSON example in docs/protocol.md parses as the type it is marked with, and serialises
//! back to the same JSON: the protocol document cannot drift from the code.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sync_protocol::changes::{AttendeeEdit, CheckInAnnulment, FailedScan, WalkIn};
use sync_protocol::crypto::Signed;
use sync_protocol::package::PackageManifest;
use sync_protocol::wire::*;

fn round_trip<T: Serialize + DeserializeOwned>(name: &str, json: &str) {
    let value: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    let parsed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{name}: does not parse as the type: {e}"));
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        value,
        "{name}: not the same JSON back"
    );
}

#[test]
fn every_example_in_the_protocol_doc_matches_its_type() {
    let doc = include_str!("../../docs/protocol.md");
    let mut checked = 0;
    for part in doc.split("<!-- example: ").skip(1) {
        let (name, rest) = part.split_once(" -->").expect("marker ends");
        let json = rest
            .split_once("```json\n")
            .and_then(|(_, r)| r.split_once("\n```"))
            .map(|(json, _)| json)
            .unwrap_or_else(|| panic!("{name}: no json block after the marker"));
        match name {
            "EnrolmentRequest" => round_trip::<EnrolmentRequest>(name, json),
            "EnrolmentResponse" => round_trip::<EnrolmentResponse>(name, json),
            "PushRequest" => round_trip::<PushRequest>(name, json),
            "PushResponse" => round_trip::<PushResponse>(name, json),
            "PullPage" => round_trip::<PullPage>(name, json),
            "LiveNotice" => round_trip::<LiveNotice>(name, json),
            "OpenConflicts" => round_trip::<OpenConflicts>(name, json),
            "ErrorBody" => round_trip::<ErrorBody>(name, json),
            "FailedScan" => round_trip::<FailedScan>(name, json),
            "CheckInAnnulment" => round_trip::<CheckInAnnulment>(name, json),
            "WalkIn" => round_trip::<WalkIn>(name, json),
            "AttendeeEdit" => round_trip::<AttendeeEdit>(name, json),
            "SignedPackageManifest" => round_trip::<Signed<PackageManifest>>(name, json),
            "PackageManifest" => round_trip::<PackageManifest>(name, json),
            other => panic!("example {other} has no type in this test"),
        }
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} examples found");
}
