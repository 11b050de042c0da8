use super::*;

const MINIUPNPD: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337">
<specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-microsoft-com:service:OSInfo:1</serviceType>
<serviceId>urn:microsoft-com:serviceId:OSInfo1</serviceId><controlURL>/ctl/OSInfo</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<controlURL>/ctl/CmnIfCfg</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>/ctl/PPP</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service>
</serviceList></device></deviceList></device></deviceList>
<presentationURL>http://10.1.0.1/</presentationURL></device></root>"#;

#[test]
fn finds_the_wan_ip_connection_service_nested_in_devices() {
    let s = parse_description(MINIUPNPD.as_bytes()).unwrap();
    assert_eq!(s.service_type, SERVICES[1]);
    assert_eq!(s.control_url, "/ctl/IPConn");
    assert!(!s.is_v2());
    assert_eq!(s.url_base, None);
}

#[test]
fn prefers_v2_and_reads_url_base_and_entities() {
    let xml = r#"<root><URLBase>http://192.168.1.1:49000</URLBase><device><serviceList>
      <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/v1</controlURL></service>
      <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/a?x=1&amp;y=2</controlURL></service>
    </serviceList></device></root>"#;
    let s = parse_description(xml.as_bytes()).unwrap();
    assert!(s.is_v2());
    assert_eq!(s.control_url, "/a?x=1&y=2");
    assert_eq!(s.url_base.as_deref(), Some("http://192.168.1.1:49000"));
}

#[test]
fn string_tricks_do_not_fool_the_parser() {
    // The service type appears only in a comment and in another element's text.
    let xml = r#"<root><!-- <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType> -->
      <device><friendlyName>urn:schemas-upnp-org:service:WANIPConnection:1</friendlyName>
      <serviceList><service><serviceType>urn:x:Other:1</serviceType><controlURL>/x</controlURL></service></serviceList></device></root>"#;
    assert!(matches!(
        parse_description(xml.as_bytes()),
        Err(XmlError::Missing(_))
    ));
    assert!(matches!(
        parse_description(b"<root><device>"),
        Err(XmlError::Malformed(_))
    ));
    assert!(matches!(
        parse_description(b"<root></device>"),
        Err(XmlError::Malformed(_))
    ));
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert!(parse_description(deep.as_bytes()).is_err());
}

#[test]
fn soap_answers_and_faults() {
    let ok = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>203.0.113.2</NewExternalIPAddress><Empty/></u:GetExternalIPAddressResponse></s:Body></s:Envelope>"#;
    let a = parse_soap(ok.as_bytes()).unwrap();
    assert_eq!(a.arg("NewExternalIPAddress"), Some("203.0.113.2"));
    assert_eq!(a.arg("Empty"), Some(""));
    let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"#;
    assert_eq!(
        parse_soap(fault.as_bytes()).unwrap(),
        SoapAnswer::Fault {
            code: 718,
            description: "ConflictInMappingEntry".into()
        }
    );
    assert!(parse_soap(b"<html>nope</html>").is_err());
}

#[test]
fn envelope_escapes_values_and_round_trips() {
    let env = soap_envelope(
        SERVICES[1],
        "AddPortMapping",
        &[("NewPortMappingDescription", "a<b&\"c\"")],
    );
    assert!(
        env.contains("SOAPAction")
            || env.contains(
                "<u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\">"
            )
    );
    assert!(!env.contains("a<b"));
    // Our own request, read back by our parser as if it were an answer, keeps the value.
    let a = parse_soap(env.as_bytes()).unwrap();
    assert_eq!(a.arg("NewPortMappingDescription"), Some("a<b&\"c\""));
}
