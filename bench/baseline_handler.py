"""The cold-start baseline: a handler that imports boto3 and creates one DynamoDB client, nothing else."""

import boto3

client = boto3.client("dynamodb")


def lambda_handler(event, context):
    return {"statusCode": 200}
