"""Lab files shared by the multicast lab tests."""

# Host a retransmits its unsolicited reports at once (10 ms), so each change's
# messages, robustness retransmissions included, are all on the wire before
# the next step; {v4} and {v6} force an IGMP and MLD version (0: the newest).
QUICK_REPORTS = """
[hosts.a]
sysctls = {{ force_igmp_version = {v4}, force_mld_version = {v6} }}
[hosts.b]
[[links]]
name = "l"
[[links.endpoints]]
host = "a"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]
dad = false
[links.endpoints.sysctls]
"ipv4.igmpv3_unsolicited_report_interval" = 10
"ipv4.igmpv2_unsolicited_report_interval" = 10
"ipv6.mldv2_unsolicited_report_interval" = 10
"ipv6.mldv1_unsolicited_report_interval" = 10
[[links.endpoints]]
host = "b"
addresses = ["10.0.0.2/24", "2001:db8::2/64"]
dad = false
"""
