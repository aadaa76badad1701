"""mediahook: Tencent Cloud media event notifications, archived to S3 and published to SNS."""
