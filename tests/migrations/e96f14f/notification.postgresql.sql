-- The schema commit e96f14f's create_all made in notification's database (postgresql), compiled from that
-- commit's metadata (the store's tables, then notification's projections).
-- core
CREATE TABLE events (
	position BIGINT NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	stream_id VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	type VARCHAR(200) NOT NULL, 
	schema_version INTEGER NOT NULL, 
	payload TEXT NOT NULL, 
	metadata TEXT NOT NULL, 
	recorded_at VARCHAR(32) NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (position), 
	CONSTRAINT uq_events_stream_version UNIQUE (stream_id, version), 
	UNIQUE (event_id)
);
CREATE INDEX ix_events_recorded_at ON events (recorded_at);
CREATE TABLE processed_events (
	consumer VARCHAR(100) NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	processed_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (consumer, event_id)
);
CREATE TABLE outbox (
	position BIGINT NOT NULL, 
	topic VARCHAR(200) NOT NULL, 
	key VARCHAR(200) NOT NULL, 
	published_at VARCHAR(32), 
	PRIMARY KEY (position), 
	FOREIGN KEY(position) REFERENCES events (position)
);
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, position);
-- notification_inbox
CREATE TABLE inbox_notifications_v2 (
	notification_id VARCHAR(36) NOT NULL, 
	recipient_id VARCHAR(200) NOT NULL, 
	kind VARCHAR(50) NOT NULL, 
	nomination_id VARCHAR(36) NOT NULL, 
	title TEXT NOT NULL, 
	body TEXT NOT NULL, 
	source_event_id VARCHAR(36) NOT NULL, 
	language VARCHAR(10) NOT NULL, 
	template_version INTEGER NOT NULL, 
	batch_id VARCHAR(36) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	position VARCHAR(20) NOT NULL, 
	PRIMARY KEY (notification_id)
);
CREATE INDEX ix_inbox_v2_recipient ON inbox_notifications_v2 (recipient_id, position);
-- notification_directory
CREATE TABLE notification_nomination_contacts (
	nomination_id VARCHAR(36) NOT NULL, 
	campaign_id VARCHAR(320) NOT NULL, 
	category VARCHAR(320) NOT NULL, 
	nominee_name VARCHAR(320) NOT NULL, 
	nominator_id VARCHAR(320) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	language VARCHAR(320) NOT NULL, 
	commission_id VARCHAR(320) NOT NULL, 
	PRIMARY KEY (nomination_id)
);
CREATE TABLE notification_reviewer_contacts (
	reviewer_id VARCHAR(200) NOT NULL, 
	name VARCHAR(320) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	language VARCHAR(320) NOT NULL, 
	PRIMARY KEY (reviewer_id)
);
-- notification_batches
CREATE TABLE notification_batch_items (
	notification_id VARCHAR(36) NOT NULL, 
	batch_id VARCHAR(36) NOT NULL, 
	recipient_id VARCHAR(200) NOT NULL, 
	nomination_id VARCHAR(36) NOT NULL, 
	PRIMARY KEY (notification_id)
);
CREATE INDEX ix_batch_items_batch ON notification_batch_items (batch_id);
CREATE TABLE notification_batches (
	batch_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(50) NOT NULL, 
	campaign_id VARCHAR(100) NOT NULL, 
	source_event_id VARCHAR(36) NOT NULL, 
	size INTEGER NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	opened_at VARCHAR(32) NOT NULL, 
	approved_by VARCHAR(200) NOT NULL, 
	approved_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (batch_id)
);
CREATE INDEX ix_batches_status ON notification_batches (status, opened_at);
-- notification_deliveries
CREATE TABLE email_deliveries (
	notification_id VARCHAR(36) NOT NULL, 
	recipient_id VARCHAR(200) NOT NULL, 
	nomination_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(50) NOT NULL, 
	to_masked VARCHAR(320) NOT NULL, 
	message_id VARCHAR(200) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at VARCHAR(32) NOT NULL, 
	last_error TEXT NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (notification_id)
);
CREATE INDEX ix_deliveries_due ON email_deliveries (status, next_attempt_at);
