"""AWS News: GET /news lists items, POST /news adds one."""

import json
import os
import uuid

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def lambda_handler(event, context):
    if event.get("httpMethod") == "POST":
        item = {"id": str(uuid.uuid4()), **json.loads(event.get("body") or "{}")}
        TABLE.put_item(Item=item)
        return {"statusCode": 201, "body": json.dumps(item)}
    items = TABLE.scan().get("Items", [])
    return {"statusCode": 200, "body": json.dumps({"stage": os.environ["STAGE"], "news": items})}
