//! LoginRadius wire types, exactly as the example of LoginRadius' Update Organization Connection
//! reference spells them.
//!
//! Field names are given one by one because LoginRadius mixes casings (`IDPEntityId`, `ACSEndpoint`, `ID`).
//! Every field the API may leave out is optional, and unknown fields are kept in `extra` so that a
//! GET-overlay-PUT round trip never erases a field this crate does not model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An organization's identity-provider connection.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Connection {
    /// `conn_…`, server-generated.
    #[serde(rename = "Id", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "IsActive", default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(
        rename = "CreatedDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date: Option<String>,
    #[serde(rename = "GroupRoles", default)]
    pub group_roles: Vec<GroupRole>,
    #[serde(
        rename = "ModifiedDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub modified_date: Option<String>,
    #[serde(rename = "Name", default)]
    pub name: String,
    /// One email domain per connection.
    #[serde(rename = "Domain", default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(
        rename = "Attributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attributes: Option<Attributes>,
    #[serde(
        rename = "IDPEntityId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_entity_id: Option<String>,
    #[serde(
        rename = "IDPMetadataUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_metadata_url: Option<String>,
    #[serde(
        rename = "IsIDPInitiated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_idp_initiated: Option<bool>,
    #[serde(
        rename = "IDPCertificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_certificate: Option<IdpCertificate>,
    /// e.g. `saml_custom`.
    #[serde(
        rename = "ConnectionType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub connection_type: String,
    /// Service-provider entity id, server-generated.
    #[serde(rename = "EntityId", default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Service-provider metadata URL, server-generated.
    #[serde(
        rename = "MetadataUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_url: Option<String>,
    /// Assertion consumer service URL, server-generated.
    #[serde(
        rename = "ACSEndpoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub acs_endpoint: Option<String>,
    /// Service-provider signing certificate, server-generated.
    #[serde(
        rename = "SPCertificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sp_certificate: Option<SpCertificate>,
    /// Fields this crate does not model, sent back untouched on PUT.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One identity-provider group mapped to one LoginRadius role.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupRole {
    #[serde(rename = "GroupId", default)]
    pub group_id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "RoleId", default)]
    pub role_id: String,
    /// `group_role_…`, server-generated.
    #[serde(rename = "Id", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
}

/// Which identity-provider claims fill the profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    #[serde(
        rename = "CustomMapping",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub custom_mapping: BTreeMap<String, String>,
    #[serde(rename = "Email", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(rename = "FirstName", default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(rename = "Groups", default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "LastName", default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// The identity provider's signing certificate; the dates are derived by LoginRadius.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct IdpCertificate {
    #[serde(rename = "Certificate", default)]
    pub certificate: String,
    #[serde(rename = "NotAfter", default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    #[serde(rename = "NotBefore", default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
}

/// LoginRadius' own (service-provider) certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SpCertificate {
    #[serde(rename = "Certificate", default)]
    pub certificate: String,
}

/// A page of connections. The envelope is a guess: LoginRadius documents neither paging nor the
/// list body; `{Data, Count}` is what its organization list (`GET /v2/manage/organizations`) uses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ConnectionList {
    #[serde(rename = "Data", default)]
    pub data: Vec<Connection>,
    /// Total number of connections (all pages).
    #[serde(rename = "Count", default)]
    pub count: u64,
}

/// Answer to DELETE.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    #[serde(rename = "IsDeleted")]
    pub is_deleted: bool,
}

/// LoginRadius' error body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "ErrorCode", default)]
    pub error_code: i64,
    #[serde(rename = "Message", default)]
    pub message: String,
}

/// Error codes this crate acts on (LoginRadius' Update Organization Connection reference and
/// LoginRadius' response-code tables).
pub mod codes {
    /// API key invalid.
    pub const API_KEY_INVALID: i64 = 901;
    /// API secret invalid.
    pub const API_SECRET_INVALID: i64 = 902;
    /// A parameter is not formatted correctly.
    pub const BAD_PARAMETER: i64 = 908;
    /// Unauthorized.
    pub const UNAUTHORIZED: i64 = 6002;
    /// Internal error.
    pub const INTERNAL: i64 = 7909;
    /// Organization not found.
    pub const ORG_NOT_FOUND: i64 = 8118;
    /// A connection with the same name exists.
    pub const DUPLICATE_NAME: i64 = 8148;
    /// The domain does not belong to the organization.
    pub const DOMAIN_NOT_IN_ORG: i64 = 8150;
    /// The connection id is invalid (unknown).
    pub const INVALID_CONNECTION_ID: i64 = 8151;
    /// The organization's domain is not verified.
    pub const DOMAIN_NOT_VERIFIED: i64 = 8177;
    /// Rate limited. The real code is not documented; this one is the emulator's guess.
    pub const TOO_MANY_REQUESTS: i64 = 429;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The response example of LoginRadius' Update Organization Connection reference, verbatim.
    pub const REFERENCE_EXAMPLE: &str = r#"{
  "Id": "conn_Z5ZtmHl2aMpi5VZP",
  "IsActive": true,
  "CreatedDate": "2023-10-01T00:00:00Z",
  "GroupRoles": [
    {
      "GroupId": "eca8da89-09ed-476f-a689-11fa9a0b14ce",
      "Name": "Security",
      "RoleId": "role_Z6NE1ZkupP7lwD6E",
      "Id": "group_role_Z6NFN5kupP7lwD6G"
    }
  ],
  "ModifiedDate": "2023-10-01T00:00:00Z",
  "Name": "AzureAD",
  "Domain": "example.com",
  "Attributes": {
    "CustomMapping": {
      "Gender": "gender"
    },
    "Email": "email",
    "FirstName": "firstName",
    "Groups": "groups",
    "ID": "sub",
    "LastName": "lastName"
  },
  "IDPEntityId": "https://exampleIdp.com",
  "IDPMetadataUrl": "https://exampleIdp.com/metadata.xml",
  "IsIDPInitiated": true,
  "IDPCertificate": {
    "Certificate": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
    "NotAfter": "2023-10-01T00:00:00Z",
    "NotBefore": "2023-10-01T00:00:00Z"
  },
  "ConnectionType": "saml_custom",
  "EntityId": "https://example.hub.loginradius.com/saml/sp/Z5ZtBULhXHAJKrLsOmeWbZh5dmjKYuVWTw",
  "MetadataUrl": "https://example.hub.loginradius.com/saml/sp/Z5ZtBULhXHAJKrLsOmeWbZh5dmjKYuVWTw/metadata.xml",
  "ACSEndpoint": "https://example.hub.loginradius.com/saml/sp/acs/Z5ZtBULhXHAJKrLsOmeWbZh5dmjKYuVWTw",
  "SPCertificate": {
    "Certificate": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
  }
}"#;

    #[test]
    fn reference_example_round_trips_with_every_field_modelled() {
        let c: Connection = serde_json::from_str(REFERENCE_EXAMPLE).unwrap();
        assert!(c.extra.is_empty(), "unmodelled fields: {:?}", c.extra);
        assert_eq!(c.id, "conn_Z5ZtmHl2aMpi5VZP");
        assert_eq!(c.group_roles[0].role_id, "role_Z6NE1ZkupP7lwD6E");
        assert_eq!(c.attributes.as_ref().unwrap().id.as_deref(), Some("sub"));
        let back = serde_json::to_value(&c).unwrap();
        let want: Value = serde_json::from_str(REFERENCE_EXAMPLE).unwrap();
        assert_eq!(back, want);
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let c: Connection = serde_json::from_value(
            serde_json::json!({"Id": "conn_x", "Name": "n", "Future": {"a": 1}}),
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap()["Future"]["a"], 1);
    }

    #[test]
    fn documented_error_bodies_parse() {
        let e: ErrorBody = serde_json::from_str(
            r#"{"Message": "Operation failed due to an internal error.",
                "Description": "An unknown internal error occurred, please try again in a few minutes or contact your system administrator.",
                "ErrorCode": 7909}"#,
        )
        .unwrap();
        assert_eq!(e.error_code, codes::INTERNAL);
    }
}
