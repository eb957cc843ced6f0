"""Cloud Custodian's own reading of offhours tags, for the differential
test in tests/offhours.rs: for each tag value (stdin: {"values": [...],
"instants": [ISO UTC times]}), whether Custodian's `offhour` and `onhour`
filters (default_tz et, offhour 19, onhour 7, weekdays) match the resource
at each instant, and whether either reports the tag invalid or opted out.
Custodian (pinned in tests/custodian-requirements.txt) is imported as is;
only its clock is replaced, so each instant can be asked."""
import datetime as real_datetime
import json
import logging
import sys
import types

from c7n.filters import offhours

logging.disable(logging.CRITICAL)
NOW = [None]


class FakeDatetime(real_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW[0].astimezone(tz)


offhours.datetime = types.SimpleNamespace(datetime=FakeDatetime, timedelta=real_datetime.timedelta)


def main():
    request = json.load(sys.stdin)
    instants = [real_datetime.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in request["instants"]]
    out = {}
    for value in request["values"]:
        resource = {"InstanceId": "i-1", "Tags": [{"Key": "maid_offhours", "Value": value}]}
        answer = {"invalid": False, "opted_out": False}
        for kind, cls, hour in (("off", offhours.OffHour, 19), ("on", offhours.OnHour, 7)):
            f = cls({"default_tz": "et", kind + "hour": hour})
            matched = []
            for i, at in enumerate(instants):
                NOW[0] = at
                if f(resource):
                    matched.append(i)
            answer[kind] = matched
            answer["invalid"] = answer["invalid"] or bool(f.parse_errors)
            answer["opted_out"] = answer["opted_out"] or bool(f.opted_out)
        out[value] = answer
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
