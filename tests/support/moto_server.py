"""The moto server for costguard's tests, run in-process so tests can reach
into its state where the AWS API has no way (creation times are stamped
"now"; a test of an age filter must move them back).

Prints "ready PORT" once serving on 127.0.0.1 (port 0 picks a free one),
then reads one JSON command per line from stdin and answers one line:
"ok" or "error: ...". Exits when stdin closes, so a test process that dies
never leaves a server behind.

Commands:
  {"op": "backdate", "service": "logs", "region": "us-east-1", "name": "/a", "days": 40}
  {"op": "create_log_groups", "region": "us-east-1", "prefix": "/bench/", "count": 10000,
   "retention_every": 3, "tag_every": 2}
      creates log groups straight in the backend, for benchmarks that need a
      big fleet fast; every nth has 7-day retention, every mth a tag.
  {"op": "backdate", "service": "sagemaker", "kind": "endpoint"|"notebook", ...}
      moves a SageMaker endpoint's or notebook's creation and modification time back.
  {"op": "backdate", "service": "ec2", "kind": "volume", "name": "vol-...", ...}
      moves an EBS volume's creation time back.
  {"op": "create_endpoints", "region": "us-east-1", "prefix": "bench-", "count": 1000,
   "instance_type": "ml.m5.large", "busy_every": 2, "days": 30}
      creates endpoints (model, config, endpoint) through the API, backdates
      them, and gives every nth an Invocations datapoint: a benchmark fleet.
  {"op": "create_instances", "region": "us-east-1", "instances": [
      {"name": "quiet", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": 4032,
       "memory": 20.0, "asg": null, "detailed": false}],
   "prefix": "bench-", "count": 1000, "busy_every": 2}
      launches EC2 instances through the API (an `asg` name puts the instance
      in an Auto Scaling group, as AWS would) and publishes their CPU load
      over the last day as one pre-aggregated datum (SampleCount and Maximum,
      as CloudWatch's StatisticValues), plus the CloudWatch agent's
      mem_used_percent when `memory` is given. With `count`, launches that
      many m5.2xlarge instances named prefix+n, every `busy_every`th at 70%
      CPU and the rest at 10%: a benchmark fleet. A spec's "tags" ({key:
      value}) are added to its instance. Answers "ok" and then one line of
      JSON: {name: instance id}.
  {"op": "store_bytes", "region": "us-east-1", "name": "/a", "bytes": 120000000000}
      makes a log group hold that many bytes (one stream; moto counts only
      what PutLogEvents stored), for storage costs without the data.
  {"op": "ses_sent", "region": "us-east-1"}
      answers "ok" and one line of JSON: the raw messages moto's SES has
      accepted, parsed (see mime.py), each with its "source" and "destinations".
"""

import sys
from datetime import timedelta

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.server import ThreadedMotoServer

from commands import serve


def backdate(cmd):
    days = float(cmd["days"])
    account = cmd.get("account", DEFAULT_ACCOUNT_ID)
    service = cmd["service"]
    if service == "logs":
        from moto.logs.models import logs_backends

        group = logs_backends[account][cmd["region"]].groups[cmd["name"]]
        group.creation_time = utcnow() - timedelta(days=days)
    elif service == "sagemaker":
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[account][cmd["region"]]
        kind = cmd.get("kind", "endpoint")
        store = backend.endpoints if kind == "endpoint" else backend.notebook_instances
        thing = store[cmd["name"]]
        then = utcnow() - timedelta(days=days)
        if kind == "endpoint":
            thing.creation_time = thing.last_modified_time = then
        else:
            thing.creation_time = thing.last_modified_time = then
    elif service == "ec2":
        from moto.ec2.models import ec2_backends

        volume = ec2_backends[account][cmd["region"]].volumes[cmd["name"]]
        volume.create_time = utcnow() - timedelta(days=days)
    else:
        raise ValueError(f"backdate does not know service {service!r}")


def clients(cmd, port, *services):
    """boto3 clients for `services` on this server, in the command's region."""
    import boto3

    kw = dict(region_name=cmd["region"], endpoint_url=f"http://127.0.0.1:{port}",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    return [boto3.client(service, **kw) for service in services]


def create_endpoints(cmd, port):
    region = cmd["region"]
    sm, cw = clients(cmd, port, "sagemaker", "cloudwatch")
    prefix, count = cmd["prefix"], int(cmd["count"])
    busy_every = int(cmd.get("busy_every", 0))
    sm.create_model(ModelName=f"{prefix}model", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"})
    sm.create_endpoint_config(EndpointConfigName=f"{prefix}config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{prefix}model",
        "InstanceType": cmd.get("instance_type", "ml.m5.large"), "InitialInstanceCount": 1}])
    from moto.sagemaker.models import sagemaker_backends
    backend = sagemaker_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][region]
    then = utcnow() - timedelta(days=float(cmd.get("days", 30)))
    data = []
    for i in range(count):
        name = f"{prefix}{i:05d}"
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{prefix}config")
        e = backend.endpoints[name]
        e.creation_time = e.last_modified_time = then
        if busy_every and i % busy_every == 0:
            data.append({"MetricName": "Invocations", "Value": 5.0, "Timestamp": utcnow() - timedelta(hours=3),
                         "Dimensions": [{"Name": "EndpointName", "Value": name},
                                        {"Name": "VariantName", "Value": "AllTraffic"}]})
    for start in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[start:start + 1000])


def create_instances(cmd, port):
    region = cmd["region"]
    ec2, cw = clients(cmd, port, "ec2", "cloudwatch")
    specs = list(cmd.get("instances", []))
    count = int(cmd.get("count", 0))
    busy_every = int(cmd.get("busy_every", 0))
    for i in range(count):
        busy = busy_every and i % busy_every == 0
        specs.append({"name": f"{cmd.get('prefix', 'bench-')}{i:05d}", "type": cmd.get("instance_type", "m5.2xlarge"),
                      "cpu_max": 70.0 if busy else 10.0, "samples": 4032})
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = {}
    plain = [s for s in specs if not s.get("asg")]
    by_type = {}
    for spec in plain:
        by_type.setdefault((spec["type"], bool(spec.get("detailed"))), []).append(spec)
    for (itype, detailed), group in by_type.items():
        for start in range(0, len(group), 500):
            chunk = group[start:start + 500]
            out = ec2.run_instances(ImageId=ami, InstanceType=itype, MinCount=len(chunk), MaxCount=len(chunk),
                                    Monitoring={"Enabled": detailed})
            for spec, inst in zip(chunk, out["Instances"]):
                ids[spec["name"]] = inst["InstanceId"]
                tags = dict(spec.get("tags") or {}, Name=spec["name"])
                ec2.create_tags(Resources=[inst["InstanceId"]], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    asg_specs = [s for s in specs if s.get("asg")]
    if asg_specs:
        (autoscaling,) = clients(cmd, port, "autoscaling")
        for spec in asg_specs:
            template = f"{spec['asg']}-template"
            ec2.create_launch_template(LaunchTemplateName=template,
                                       LaunchTemplateData={"ImageId": ami, "InstanceType": spec["type"]})
            autoscaling.create_auto_scaling_group(AutoScalingGroupName=spec["asg"], MinSize=1, MaxSize=1, DesiredCapacity=1,
                                                  LaunchTemplate={"LaunchTemplateName": template},
                                                  AvailabilityZones=[f"{region}a"])
            group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[spec["asg"]])["AutoScalingGroups"][0]
            ids[spec["name"]] = group["Instances"][0]["InstanceId"]
    when = utcnow() - timedelta(days=1)
    data = {"AWS/EC2": [], "CWAgent": []}
    for spec in specs:
        iid = ids[spec["name"]]
        if spec.get("cpu_max") is not None:
            n = float(spec.get("samples", 4032))
            peak = float(spec["cpu_max"])
            data["AWS/EC2"].append({"MetricName": "CPUUtilization", "Timestamp": when, "Unit": "Percent",
                                    "Dimensions": [{"Name": "InstanceId", "Value": iid}],
                                    "StatisticValues": {"SampleCount": n, "Sum": n * peak / 2, "Minimum": 0.0, "Maximum": peak}})
        if spec.get("memory") is not None:
            m = float(spec["memory"])
            data["CWAgent"].append({"MetricName": "mem_used_percent", "Timestamp": when, "Unit": "Percent",
                                    "Dimensions": [{"Name": "InstanceId", "Value": iid},
                                                   {"Name": "InstanceType", "Value": spec["type"]}],
                                    "StatisticValues": {"SampleCount": 20160.0, "Sum": 20160.0 * m / 2, "Minimum": 0.0, "Maximum": m}})
    for namespace, items in data.items():
        for start in range(0, len(items), 1000):
            cw.put_metric_data(Namespace=namespace, MetricData=items[start:start + 1000])
    return ids


def ses_sent(cmd):
    import mime
    from moto.ses.models import ses_backends

    backend = ses_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]]
    out = []
    for m in backend.sent_messages:
        raw = getattr(m, "raw_data", None)
        if raw is not None:
            out.append(mime.parse(raw.encode(), m.source, m.destinations))
    return out


def store_bytes(cmd):
    from moto.logs.models import logs_backends

    backend = logs_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]]
    group = backend.groups[cmd["name"]]
    if "stored" not in group.streams:
        backend.create_log_stream(cmd["name"], "stored")
    group.streams["stored"].stored_bytes = int(cmd["bytes"])


def create_log_groups(cmd):
    from moto.logs.models import logs_backends

    backend = logs_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]]
    retention_every = int(cmd.get("retention_every", 0))
    tag_every = int(cmd.get("tag_every", 0))
    for i in range(int(cmd["count"])):
        tags = {"team": f"team-{i % 7}"} if tag_every and i % tag_every == 0 else {}
        group = backend.create_log_group(f"{cmd['prefix']}{i:06d}", tags)
        if retention_every and i % retention_every == 0:
            group.set_retention_policy(7)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    bound = server.get_host_and_port()[1]
    print(f"ready {bound}", flush=True)
    ops = {
        "backdate": lambda cmd: backdate(cmd),
        "create_log_groups": lambda cmd: create_log_groups(cmd),
        "create_endpoints": lambda cmd: create_endpoints(cmd, bound),
        "create_instances": lambda cmd: create_instances(cmd, bound),
        "ses_sent": lambda cmd: ses_sent(cmd),
        "store_bytes": lambda cmd: store_bytes(cmd),
    }

    def handle(cmd):
        if cmd.get("op") not in ops:
            raise ValueError(f"unknown op {cmd.get('op')!r}")
        return ops[cmd["op"]](cmd)

    serve(handle)
    server.stop()


if __name__ == "__main__":
    main()
