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
  {"op": "backdate", "service": "sagemaker", "kind": "endpoint"|"notebook"|"cluster", ...}
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
   "prefix": "bench-", "count": 1000, "busy_every": 2, "days": 30}
      launches EC2 instances through the API (an `asg` name puts the instance
      in an Auto Scaling group, as AWS would) and publishes their CPU load
      over the last day as one pre-aggregated datum (SampleCount and Maximum,
      as CloudWatch's StatisticValues), plus the CloudWatch agent's
      mem_used_percent when `memory` is given. With `count`, launches that
      many m5.2xlarge instances named prefix+n, every `busy_every`th at 70%
      CPU and the rest at 10% (with "gpus": G and an accelerated
      "instance_type", all at 3% CPU with G GPUs each, the busy ones' GPUs
      at 90%, the rest idle). A spec's "tags" ({key:
      value}) are added to its instance; `days` sets their launch time that
      long ago. A spec's "gpus" ([{"util": 70.0, "memory_mib": 12000}, ...],
      one per GPU) publishes the CloudWatch agent's nvidia_gpu metrics per
      GPU (nvidia_smi_utilization_gpu, nvidia_smi_memory_used) in
      "gpu_namespace" (default CWAgent) by InstanceId and index plus
      "gpu_dims" ({name: value}, what the agent's config appends), with
      "gpu_samples" samples each (default two weeks of one a minute); its
      "node_gpu" ({"util": 40.0, "memory": 30.0}) publishes Container
      Insights' node_gpu_utilization and node_gpu_memory_utilization
      instead, and "node_neuron" ({"util": 2.0, "memory_bytes": 1e9})
      node_neuroncore_utilization and node_neuroncore_memory_usage_total. Answers "ok" and then one line of JSON: {name: instance id}.
  {"op": "store_bytes", "region": "us-east-1", "name": "/a", "bytes": 120000000000}
      makes a log group hold that many bytes (one stream; moto counts only
      what PutLogEvents stored), for storage costs without the data.
  {"op": "shape_training_job", "region": "us-east-1", "name": "train-1", "status": "Completed",
   "started_hours_ago": 50, "ran_seconds": 7200, "billable_seconds": 2400}
      makes a training job (moto finishes every job at once, with no
      training or billable time) look as AWS would show it: started then,
      and for a job that ended, ended after `ran_seconds` with those
      training seconds and `billable_seconds` (default: all of them).
  {"op": "create_volumes", "region": "us-east-1", "count": 1000, "old_every": 2}
  {"op": "create_buckets", "region": "us-east-1", "count": 1000, "lifecycle_every": 2}
  {"op": "create_training_jobs", "region": "us-east-1", "count": 1000, "spot_every": 2}
      benchmark fleets: N unattached gp3 volumes, every nth 40 days old (the
      rest new); N buckets of 20 GB each (their daily AWS/S3 metrics put
      as S3 publishes them), every nth with a lifecycle rule; N training
      jobs on ml.p3.2xlarge that ended a day ago after an hour, every nth
      on spot (billed 20 minutes).
  {"op": "create_clusters", "region": "us-east-1", "prefix": "hp-", "count": 1000, "days": 30}
      N HyperPod clusters (2 x ml.g5.12xlarge + 1 x ml.c5.xlarge), owner-tagged.
  {"op": "create_repositories", "region": "us-east-1", "prefix": "repo-", "count": 1000, "lifecycle_every": 2}
      N ECR repositories of three 1 GB images each, every nth with a lifecycle policy.
  {"op": "create_collections", "region": "us-east-1", "prefix": "vec-", "count": 1000, "busy_every": 2, "days": 30}
      N OpenSearch Serverless collections, the account's OCUs (4), every nth
      searched, every 10th used by a Bedrock knowledge base.
  {"op": "backdate", "service": "aoss", "name": "docs", ...}
      moves an OpenSearch Serverless collection's creation time back.
  {"op": "create_notebooks", "region": "us-east-1", "prefix": "nb-", "count": 20, "days": 10}
      N running notebooks created `days` ago, for the mixed benchmark.
  {"op": "update_domain", "region": "us-east-1", "domain": "d-...", "settings": {...}}
      UpdateDomain's DefaultUserSettings applied to a moto domain (the
      fake answers the call, moto keeps the state).
  {"op": "events_queue", "region": "us-east-1", "name": "costguard-events", "max_receives": 3}
      an SQS queue and its dead-letter queue, fed by an EventBridge rule on
      CloudTrail's API-call events; answers {"queue": URL, "dlq": URL}.
  {"op": "put_events", "region": "us-east-1", "events": [{"source": "aws.sagemaker", "detail": {...}}]}
      puts events on the default bus, as CloudTrail does.
  {"op": "deploy_stack", "region": "us-east-1", "name": "costguard", "template": PATH, "parameters": {...}}
      a CloudFormation stack created from a template file; answers its
      status, outputs and each resource's status.
  {"op": "task_environment", "region": "us-east-1", "family": "costguard"}
      the environment of a task definition's first container.
  {"op": "ses_sent", "region": "us-east-1"}
      answers "ok" and one line of JSON: the raw messages moto's SES has
      accepted, parsed (see mime.py), each with its "source" and "destinations".
"""

import json
import sys
from datetime import timedelta

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.bedrock.responses import BedrockResponse
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

from commands import serve


def no_provisioned_throughput(_response):
    """moto 5.2.5 routes every Bedrock path but has no provisioned
    throughput (ListProvisionedModelThroughputs answers HTTP 500): the
    emulator's accounts have none, so it answers as AWS does for such an
    account. Tests of the resource type itself use tests/support/fake_aws.rs."""
    return json.dumps({"provisionedModelSummaries": []})


BedrockResponse.list_provisioned_model_throughputs = no_provisioned_throughput


def no_studio_apps(_self):
    """moto 5.2.5 has Studio domains but no apps (ListApps is not
    implemented): the emulator's accounts run none, so it answers as AWS
    does for such an account. Tests of the `sagemaker-app` type itself use
    tests/support/fake_aws.rs."""
    return json.dumps({"Apps": []})


SageMakerResponse.list_apps = no_studio_apps


def no_inference_components(_self):
    """moto 5.2.5 has no inference components: its accounts host none.
    Tests of the `sagemaker-inference-component` type use fake_aws.rs."""
    return json.dumps({"InferenceComponents": []})


SageMakerResponse.list_inference_components = no_inference_components


def no_spaces(_self):
    """moto 5.2.5 has Studio domains but no spaces: its accounts have none.
    Tests of the `sagemaker-space` type use fake_aws.rs."""
    return json.dumps({"Spaces": []})


SageMakerResponse.list_spaces = no_spaces


def no_tracking_servers(_self):
    """moto 5.2.5 has no managed MLflow: its accounts run no tracking
    server. Tests of the type use fake_aws.rs."""
    return json.dumps({"TrackingServerSummaries": []})


SageMakerResponse.list_mlflow_tracking_servers = no_tracking_servers


def knowledge_base_times_as_aws_sends_them():
    """moto 5.2.5's Bedrock Agent sends a knowledge base's createdAt and
    updatedAt as epoch seconds; AWS (restJson1) sends ISO 8601 date-times,
    which is what the SDK reads. The state is moto's; only the wire format
    is changed."""
    from datetime import datetime, timezone
    from moto.bedrockagent.models import KnowledgeBase

    def iso(d):
        for key in ("createdAt", "updatedAt"):
            if isinstance(d.get(key), (int, float)):
                d[key] = datetime.fromtimestamp(d[key], tz=timezone.utc).isoformat().replace("+00:00", "Z")
        return d

    for method in ("to_dict", "dict_summary"):
        original = getattr(KnowledgeBase, method)
        setattr(KnowledgeBase, method, lambda self, _o=original: iso(_o(self)))


knowledge_base_times_as_aws_sends_them()


def tagging_api_with_ecr():
    """moto 5.2.5's Tagging API (GetResources) leaves ECR repositories out;
    AWS's lists them (`ecr:repository`). This adds the repositories' tags,
    as ListTagsForResource holds them, to what GetResources yields."""
    from moto.ecr.models import ecr_backends
    from moto.core.resource_tagging import TaggedResource
    from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend, make_tag_matcher

    original = ResourceGroupsTaggingAPIBackend._get_resources_generator

    def with_ecr(self, tag_filters=None, resource_type_filters=None, resource_arn_list=None):
        yield from original(self, tag_filters=tag_filters, resource_type_filters=resource_type_filters,
                            resource_arn_list=resource_arn_list)
        if resource_type_filters and not any(f.split(":")[0] == "ecr" for f in resource_type_filters):
            return
        if self.account_id not in ecr_backends or self.region_name not in ecr_backends[self.account_id]:
            return
        backend = ecr_backends[self.account_id][self.region_name]
        matches = make_tag_matcher(tag_filters)
        for repo in backend.repositories.values():
            tags = backend.tagger.list_tags_for_resource(repo.arn)["tags"]
            tags = {t["Key"]: t["Value"] for t in tags}
            if tags and matches(tags) and (not resource_arn_list or repo.arn in resource_arn_list):
                yield TaggedResource(arn=repo.arn, resource_type="ecr:repository", tags=tags)

    ResourceGroupsTaggingAPIBackend._get_resources_generator = with_ecr


tagging_api_with_ecr()


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
        then = utcnow() - timedelta(days=days)
        if kind == "cluster":
            backend.clusters[cmd["name"]].creation_time = then
        else:
            store = backend.endpoints if kind == "endpoint" else backend.notebook_instances
            thing = store[cmd["name"]]
            thing.creation_time = thing.last_modified_time = then
    elif service == "aoss":
        from moto.opensearchserverless.models import opensearchserverless_backends

        backend = opensearchserverless_backends[account][cmd["region"]]
        found = [c for c in backend.collections.values() if c.name == cmd["name"]]
        if not found:
            raise KeyError(f"no collection named {cmd['name']!r}")
        found[0].created_date = int((utcnow() - timedelta(days=days)).timestamp() * 1000)
    elif service == "ec2":
        from moto.ec2.models import ec2_backends

        volume = ec2_backends[account][cmd["region"]].volumes[cmd["name"]]
        volume.create_time = utcnow() - timedelta(days=days)
    else:
        raise ValueError(f"backdate does not know service {service!r}")


def clients(cmd, port, *services):
    """boto3 clients for `services` on this server, in the command's region
    and, with an "account", in that account (moto keeps accounts apart by
    the credentials AssumeRole returns)."""
    import boto3

    kw = dict(region_name=cmd["region"], endpoint_url=f"http://127.0.0.1:{port}",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    account = cmd.get("account", DEFAULT_ACCOUNT_ID)
    if account != DEFAULT_ACCOUNT_ID:
        role = f"arn:aws:iam::{account}:role/seed"
        c = boto3.client("sts", **kw).assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]
        kw.update(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
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


def create_notebooks(cmd, port):
    """N running notebooks, created `days` ago (a benchmark fleet)."""
    region = cmd["region"]
    (sm,) = clients(cmd, port, "sagemaker")
    from moto.sagemaker.models import sagemaker_backends
    backend = sagemaker_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][region]
    then = utcnow() - timedelta(days=float(cmd.get("days", 10)))
    for i in range(int(cmd["count"])):
        name = f"{cmd['prefix']}{i:03d}"
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType=cmd.get("instance_type", "ml.t3.xlarge"),
                                    RoleArn="arn:aws:iam::123456789012:role/sm")
        nb = backend.notebook_instances[name]
        nb.creation_time = nb.last_modified_time = then


def create_clusters(cmd, port):
    """N HyperPod clusters of two instance groups (2 x ml.g5.12xlarge and
    1 x ml.c5.xlarge), tagged with an owner, created `days` ago (a
    benchmark fleet). moto 5.2.5 fails (HTTP 500, then ResourceInUse when
    retried) after creating a cluster whose groups do not name
    ThreadsPerCore, so they do."""
    region = cmd["region"]
    (sm,) = clients(cmd, port, "sagemaker")
    from botocore.exceptions import ClientError
    from moto.sagemaker.models import sagemaker_backends
    backend = sagemaker_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][region]
    then = utcnow() - timedelta(days=float(cmd.get("days", 30)))
    lifecycle = {"SourceS3Uri": "s3://sagemaker-lifecycle/", "OnCreate": "on_create.sh"}
    role = "arn:aws:iam::123456789012:role/hyperpod"
    for i in range(int(cmd["count"])):
        name = f"{cmd['prefix']}{i:04d}"
        groups = [
            {"InstanceGroupName": "workers", "InstanceType": "ml.g5.12xlarge", "InstanceCount": 2, "ExecutionRole": role, "LifeCycleConfig": lifecycle, "ThreadsPerCore": 1},
            {"InstanceGroupName": "head", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "ExecutionRole": role, "LifeCycleConfig": lifecycle, "ThreadsPerCore": 1},
        ]
        try:
            sm.create_cluster(ClusterName=name, InstanceGroups=groups, Tags=[{"Key": "owner", "Value": f"team-{i % 7}@example.com"}],
                              VpcConfig={"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]})
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUse":
                raise
        backend.clusters[name].creation_time = then


def create_repositories(cmd, port):
    """N ECR repositories, owner-tagged, each holding three 1 GB images (one
    untagged); every `lifecycle_every`th has a lifecycle policy of its own
    (a benchmark fleet)."""
    (ecr,) = clients(cmd, port, "ecr")
    every = int(cmd.get("lifecycle_every", 0))
    policy = json.dumps({"rules": [{"rulePriority": 1, "description": "team rule", "action": {"type": "expire"},
                                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                                  "countUnit": "days", "countNumber": 30}}]})
    for i in range(int(cmd["count"])):
        name = f"{cmd['prefix']}{i:04d}"
        ecr.create_repository(repositoryName=name, tags=[{"Key": "owner", "Value": f"team-{i % 7}@example.com"}])
        for n, tag in enumerate(["v1", "v2", None]):
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {"size": 10**9, "digest": f"sha256:{i:032x}{n:032x}"},
                        "layers": [{"size": 10**9, "digest": f"sha256:{n:032x}{i:032x}"}]}
            kw = {"imageTag": tag} if tag else {}
            ecr.put_image(repositoryName=name, imageManifest=json.dumps(manifest), **kw)
        if every and i % every == 0:
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy)


def create_collections(cmd, port):
    """N OpenSearch Serverless collections (VECTORSEARCH), owner-tagged and
    `days` old, the account's OCUs published (4), every `busy_every`th
    searched, and every 10th used by a Bedrock knowledge base (a benchmark
    fleet)."""
    region = cmd["region"]
    aoss, cw, kb = clients(cmd, port, "opensearchserverless", "cloudwatch", "bedrock-agent")
    from moto.opensearchserverless.models import opensearchserverless_backends
    count, every = int(cmd["count"]), int(cmd.get("busy_every", 0))
    names = [f"{cmd['prefix']}{i:04d}" for i in range(count)]
    account = cmd.get("account", DEFAULT_ACCOUNT_ID)
    aoss.create_security_policy(name="bench-encryption", type="encryption", policy=json.dumps({
        "Rules": [{"ResourceType": "collection", "Resource": [f"collection/{n}" for n in names]}],
        "AWSOwnedKey": False, "KmsARN": f"arn:aws:kms:{region}:{account}:key/bench"}))
    backend = opensearchserverless_backends[account][region]
    then = int((utcnow() - timedelta(days=float(cmd.get("days", 30)))).timestamp() * 1000)
    at = utcnow() - timedelta(hours=3)
    for i, name in enumerate(names):
        c = aoss.create_collection(name=name, type="VECTORSEARCH",
                                   tags=[{"key": "owner", "value": f"team-{i % 7}@example.com"}])["createCollectionDetail"]
        backend.collections[c["id"]].created_date = then
        if every and i % every == 0:
            cw.put_metric_data(Namespace="AWS/AOSS", MetricData=[{
                "MetricName": "SearchRequestRate", "Value": 10.0, "Timestamp": at,
                "Dimensions": [{"Name": "ClientId", "Value": account}, {"Name": "CollectionId", "Value": c["id"]},
                               {"Name": "CollectionName", "Value": name}]}])
        if i % 10 == 0:
            kb.create_knowledge_base(
                name=f"kb-{name}", roleArn=f"arn:aws:iam::{account}:role/kb",
                knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                    "embeddingModelArn": f"arn:aws:bedrock:{region}::foundation-model/amazon.titan-embed-text-v2:0"}},
                storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                    "collectionArn": c["arn"], "vectorIndexName": "index",
                    "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}})
    for metric in ("IndexingOCU", "SearchOCU"):
        cw.put_metric_data(Namespace="AWS/AOSS", MetricData=[{
            "MetricName": metric, "Value": 2.0, "Timestamp": at, "Dimensions": [{"Name": "ClientId", "Value": account}]}])


def events_queue(cmd, port):
    """The event path of `costguard events` as the stack deploys it: an SQS
    queue with a dead-letter queue (redrive after `max_receives`), and an
    EventBridge rule on the default bus sending CloudTrail's "AWS API Call
    via CloudTrail" events to the queue. Answers the two queues' URLs."""
    sqs, events = clients(cmd, port, "sqs", "events")
    name = cmd.get("name", "costguard-events")
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": int(cmd.get("max_receives", 3))})
    queue = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "60"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"{name}-creations", EventPattern=json.dumps({"detail-type": ["AWS API Call via CloudTrail"]}))
    events.put_targets(Rule=f"{name}-creations", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return {"queue": queue, "dlq": dlq}


def deploy_stack(cmd, port):
    """Creates a CloudFormation stack from `template` (a path) with
    `parameters` ({key: value}), as `aws cloudformation deploy` does.
    moto 5.2.5 deploys IAM, SQS, Events, ECS, EFS, EC2 and Logs resources;
    it skips (with a warning) the types it lacks, among them
    AWS::SQS::QueuePolicy and AWS::CloudWatch::Alarm. Answers the stack's
    status, its outputs, and each resource's status by logical id."""
    (cf,) = clients(cmd, port, "cloudformation")
    with open(cmd["template"]) as f:
        body = f.read()
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in cmd.get("parameters", {}).items()]
    cf.create_stack(StackName=cmd["name"], TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cf.describe_stacks(StackName=cmd["name"])["Stacks"][0]
    resources = {r["LogicalResourceId"]: r["ResourceStatus"] for r in cf.list_stack_resources(StackName=cmd["name"])["StackResourceSummaries"]}
    return {"status": stack["StackStatus"], "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            "resources": resources}


def task_environment(cmd, port):
    """Answers the environment of a task definition's first container."""
    (ecs,) = clients(cmd, port, "ecs")
    container = ecs.describe_task_definition(taskDefinition=cmd["family"])["taskDefinition"]["containerDefinitions"][0]
    return {e["name"]: e["value"] for e in container.get("environment", [])}


def queue_length(cmd, port):
    """Answers how many messages a queue holds, visible or not."""
    (sqs,) = clients(cmd, port, "sqs")
    a = sqs.get_queue_attributes(QueueUrl=cmd["queue"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return int(a["Attributes"]["ApproximateNumberOfMessages"]) + int(a["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def put_events(cmd, port):
    """Puts events on the default bus as CloudTrail would (source aws.X,
    detail-type "AWS API Call via CloudTrail"); `detail` is sent as given
    (a string is sent as is, to test what cannot be read)."""
    (events,) = clients(cmd, port, "events")
    entries = [{"Source": e.get("source", "aws.sagemaker"), "DetailType": e.get("detail_type", "AWS API Call via CloudTrail"),
                "Detail": e["detail"] if isinstance(e["detail"], str) else json.dumps(e["detail"])} for e in cmd["events"]]
    out = events.put_events(Entries=entries)
    if out.get("FailedEntryCount"):
        raise ValueError(f"put_events failed: {out['Entries']}")


def create_instances(cmd, port):
    region = cmd["region"]
    ec2, cw = clients(cmd, port, "ec2", "cloudwatch")
    specs = list(cmd.get("instances", []))
    count = int(cmd.get("count", 0))
    busy_every = int(cmd.get("busy_every", 0))
    gpus_each = int(cmd.get("gpus", 0))
    for i in range(count):
        busy = busy_every and i % busy_every == 0
        spec = {"name": f"{cmd.get('prefix', 'bench-')}{i:05d}", "type": cmd.get("instance_type", "m5.2xlarge"),
                "cpu_max": 70.0 if busy else 10.0, "samples": 4032}
        if gpus_each:
            # GPU boxes at 3% CPU: the busy ones' GPUs run at 90%, the rest idle.
            spec["cpu_max"] = 3.0
            spec["gpus"] = [{"util": 90.0 if busy else 0.0, "memory_mib": 30000.0 if busy else 300.0} for _ in range(gpus_each)]
        specs.append(spec)
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
    if cmd.get("days"):
        # Launched that long ago, as a fleet that has been running (moto stamps "now").
        from moto.ec2.models import ec2_backends

        backend = ec2_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][region]
        launched = utcnow() - timedelta(days=float(cmd["days"]))
        wanted = set(ids.values())
        for reservation in backend.reservations.values():
            for instance in reservation.instances:
                if instance.id in wanted:
                    instance.launch_time = launched
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
        gpu_ns = spec.get("gpu_namespace", "CWAgent")
        gpu_samples = float(spec.get("gpu_samples", 20160))
        extra = [{"Name": k, "Value": v} for k, v in (spec.get("gpu_dims") or {}).items()]
        for index, gpu in enumerate(spec.get("gpus") or []):
            dims = [{"Name": "InstanceId", "Value": iid}, {"Name": "index", "Value": str(index)}] + extra
            for metric, peak in (("nvidia_smi_utilization_gpu", gpu["util"]), ("nvidia_smi_memory_used", gpu.get("memory_mib"))):
                if peak is None:
                    continue
                data.setdefault(gpu_ns, []).append({"MetricName": metric, "Timestamp": when, "Dimensions": dims,
                                                    "StatisticValues": {"SampleCount": gpu_samples, "Sum": gpu_samples * peak / 2,
                                                                        "Minimum": 0.0, "Maximum": float(peak)}})
        node = spec.get("node_gpu") or spec.get("node_neuron")
        if node:
            dims = [{"Name": "ClusterName", "Value": node.get("cluster", "ml")}, {"Name": "InstanceId", "Value": iid},
                    {"Name": "NodeName", "Value": f"ip-{iid}.ec2.internal"}]
            metrics = ((("node_gpu_utilization", node["util"]), ("node_gpu_memory_utilization", node.get("memory")))
                       if spec.get("node_gpu") else
                       (("node_neuroncore_utilization", node["util"]), ("node_neuroncore_memory_usage_total", node.get("memory_bytes"))))
            for metric, peak in metrics:
                if peak is None:
                    continue
                data.setdefault("ContainerInsights", []).append({"MetricName": metric, "Timestamp": when, "Dimensions": dims,
                                                                 "StatisticValues": {"SampleCount": gpu_samples, "Sum": gpu_samples * peak / 2,
                                                                                     "Minimum": 0.0, "Maximum": float(peak)}})
    for namespace, items in data.items():
        for start in range(0, len(items), 1000):
            cw.put_metric_data(Namespace=namespace, MetricData=items[start:start + 1000])
    return ids


def shape_training_job(cmd):
    from moto.sagemaker.models import sagemaker_backends

    job = sagemaker_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]].training_jobs[cmd["name"]]
    status = cmd.get("status", "Completed")
    start = utcnow() - timedelta(hours=float(cmd["started_hours_ago"]))
    job.creation_time = start - timedelta(minutes=5)
    job.training_start_time = job.last_modified_time = start
    job.training_job_status = status
    job.secondary_status = {"InProgress": "Training", "Stopping": "Stopping"}.get(status, status)
    if status in ("InProgress", "Stopping"):
        job.training_end_time = None
        return
    ran = int(cmd["ran_seconds"])
    job.training_end_time = job.last_modified_time = start + timedelta(seconds=ran)
    job.training_time_in_seconds = ran
    job.billable_time_in_seconds = int(cmd.get("billable_seconds", ran))


def create_volumes(cmd, port):
    (ec2,) = clients(cmd, port, "ec2")
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]]
    old_every = int(cmd.get("old_every", 2))
    for i in range(int(cmd["count"])):
        volume = ec2.create_volume(AvailabilityZone=f"{cmd['region']}a", Size=100, VolumeType="gp3")
        if old_every and i % old_every == 0:
            backend.volumes[volume["VolumeId"]].create_time = utcnow() - timedelta(days=40)


def create_buckets(cmd, port):
    s3, cw = clients(cmd, port, "s3", "cloudwatch")
    lifecycle_every = int(cmd.get("lifecycle_every", 2))
    at = utcnow() - timedelta(hours=20)
    data = []
    for i in range(int(cmd["count"])):
        name = f"bench-bucket-{i:05d}"
        s3.create_bucket(Bucket=name)
        if lifecycle_every and i % lifecycle_every == 0:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
                "ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
        bucket = [{"Name": "BucketName", "Value": name}]
        data.append({"MetricName": "BucketSizeBytes", "Timestamp": at, "Value": 20e9,
                     "Dimensions": bucket + [{"Name": "StorageType", "Value": "StandardStorage"}]})
        data.append({"MetricName": "NumberOfObjects", "Timestamp": at, "Value": 1000.0,
                     "Dimensions": bucket + [{"Name": "StorageType", "Value": "AllStorageTypes"}]})
    for start in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="AWS/S3", MetricData=data[start:start + 1000])


def create_training_jobs(cmd, port):
    (sm,) = clients(cmd, port, "sagemaker")
    spot_every = int(cmd.get("spot_every", 2))
    for i in range(int(cmd["count"])):
        name = f"bench-train-{i:05d}"
        spot = bool(spot_every) and i % spot_every == 0
        sm.create_training_job(
            TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/training",
            AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://models/out"},
            ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
            StoppingCondition={"MaxRuntimeInSeconds": 86400}, EnableManagedSpotTraining=spot)
        shape_training_job({"region": cmd["region"], "name": name, "started_hours_ago": 25, "ran_seconds": 3600,
                            "billable_seconds": 1200 if spot else 3600, "account": cmd.get("account", DEFAULT_ACCOUNT_ID)})


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


def update_domain(cmd):
    """What UpdateDomain (which moto 5.2.5 lacks; the test's fake answers
    it) does to a domain's DefaultUserSettings: each app type's settings
    the request names replace the domain's, the rest stay."""
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]]
    domain = backend.domains[cmd["domain"]]
    settings = dict(domain.default_user_settings or {})
    settings.update(cmd["settings"])
    domain.default_user_settings = settings


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
        "create_notebooks": lambda cmd: create_notebooks(cmd, bound),
        "create_volumes": lambda cmd: create_volumes(cmd, bound),
        "create_buckets": lambda cmd: create_buckets(cmd, bound),
        "create_clusters": lambda cmd: create_clusters(cmd, bound),
        "create_repositories": lambda cmd: create_repositories(cmd, bound),
        "create_collections": lambda cmd: create_collections(cmd, bound),
        "events_queue": lambda cmd: events_queue(cmd, bound),
        "put_events": lambda cmd: put_events(cmd, bound),
        "queue_length": lambda cmd: queue_length(cmd, bound),
        "deploy_stack": lambda cmd: deploy_stack(cmd, bound),
        "task_environment": lambda cmd: task_environment(cmd, bound),
        "create_training_jobs": lambda cmd: create_training_jobs(cmd, bound),
        "ses_sent": lambda cmd: ses_sent(cmd),
        "shape_training_job": lambda cmd: shape_training_job(cmd),
        "store_bytes": lambda cmd: store_bytes(cmd),
        "update_domain": lambda cmd: update_domain(cmd),
    }

    def handle(cmd):
        if cmd.get("op") not in ops:
            raise ValueError(f"unknown op {cmd.get('op')!r}")
        return ops[cmd["op"]](cmd)

    serve(handle)
    server.stop()


if __name__ == "__main__":
    main()
