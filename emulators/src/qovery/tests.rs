use super::validation::parse_dto;

#[test]
fn a_put_body_missing_a_required_field_is_named() {
    let err = parse_dto(br#"{"connection_name":"a","default_role":"viewer","group_mappings":{}}"#)
        .unwrap_err();
    assert!(err.contains("enforce_group_sync"));
    let err = parse_dto(
            br#"{"connection_name":"a","default_role":"viewer","enforce_group_sync":true,"group_mappings":{"viewer":[null]}}"#,
        )
        .unwrap_err();
    assert!(err.contains("group_mappings.viewer"));
}
