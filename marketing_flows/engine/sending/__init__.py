"""What leaves the site: content rendered into Email Queue rows, the SMTP sender and its
limits, SMS and webhooks through the outbox, delivery outcomes, bounces, links."""
