<?php
/**
 * The settings (shopreco's URL, the shop's widget key, the pages that get widgets by
 * themselves), the Settings > shopreco page made with the Settings API, and the connection
 * code that fills both fields at once.
 *
 * @package shopreco
 */

defined( 'ABSPATH' ) || exit;

const SHOPRECO_OPTION = 'shopreco_settings';

/**
 * The WooCommerce pages that get widgets by themselves, by the name the settings use.
 *
 * @return array<string, string>
 */
function shopreco_spots() {
	return array(
		'product'   => __( 'Product pages: "Frequently bought together" and "Customers also bought"', 'shopreco' ),
		'cart'      => __( 'Cart page: "Complete your order"', 'shopreco' ),
		'thank_you' => __( 'Thank-you page: "Picked for you"', 'shopreco' ),
		'home'      => __( 'Shop page: "Recommended for you"', 'shopreco' ),
	);
}

/**
 * The saved settings, a default (not connected yet, every page on) for any missing or
 * malformed one.
 *
 * @return array{url: string, widget_key: string, spots: string[]}
 */
function shopreco_settings() {
	$saved = get_option( SHOPRECO_OPTION, array() );
	$saved = is_array( $saved ) ? $saved : array();
	return array(
		'url'        => isset( $saved['url'] ) && is_string( $saved['url'] ) ? $saved['url'] : '',
		'widget_key' => isset( $saved['widget_key'] ) && is_string( $saved['widget_key'] ) ? $saved['widget_key'] : '',
		'spots'      => isset( $saved['spots'] ) && is_array( $saved['spots'] ) ? $saved['spots'] : array_keys( shopreco_spots() ),
	);
}

/**
 * Whether both the URL and the widget key are set.
 */
function shopreco_is_connected() {
	$settings = shopreco_settings();
	return '' !== $settings['url'] && '' !== $settings['widget_key'];
}

/**
 * An http(s) URL reduced to scheme, host, port and path, without a trailing slash; '' if it
 * is not one.
 *
 * @param mixed $url What the owner typed.
 */
function shopreco_clean_url( $url ) {
	$parts  = is_string( $url ) ? wp_parse_url( trim( $url ) ) : false;
	$scheme = is_array( $parts ) && isset( $parts['scheme'] ) ? strtolower( $parts['scheme'] ) : '';
	if ( ! in_array( $scheme, array( 'http', 'https' ), true ) || empty( $parts['host'] ) ) {
		return '';
	}
	$url = $scheme . '://' . $parts['host'] . ( isset( $parts['port'] ) ? ':' . (int) $parts['port'] : '' )
		. ( isset( $parts['path'] ) ? $parts['path'] : '' );
	return untrailingslashit( esc_url_raw( $url, array( 'http', 'https' ) ) );
}

/**
 * A widget key (letters, digits, '_' and '-'); '' if it is not one.
 *
 * @param mixed $key What the owner typed.
 */
function shopreco_clean_key( $key ) {
	$key = is_string( $key ) ? trim( $key ) : '';
	return preg_match( '/^[A-Za-z0-9_-]{1,128}$/', $key ) ? $key : '';
}

/**
 * The URL and widget key in a connection code: base64 (URL-safe or standard, padding
 * optional) of the JSON object {"url": ..., "widget_key": ...}. Null if it is not one.
 *
 * @param string $code The code as pasted.
 * @return array{url: string, widget_key: string}|null
 */
function shopreco_parse_connection_code( $code ) {
	$code = preg_replace( '/\s+/', '', (string) $code );
	$json = base64_decode( strtr( $code, '-_', '+/' ), true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode -- the code's format.
	$data = false === $json ? null : json_decode( $json, true );
	if ( ! is_array( $data ) || ! isset( $data['url'], $data['widget_key'] ) ) {
		return null;
	}
	$url = shopreco_clean_url( $data['url'] );
	$key = shopreco_clean_key( $data['widget_key'] );
	return ( '' === $url || '' === $key ) ? null : array(
		'url'        => $url,
		'widget_key' => $key,
	);
}

/**
 * The sanitize callback of the setting: a valid connection code sets the URL and the key; an
 * invalid field keeps its saved value and says why. Running it on its own output changes
 * nothing (WordPress may run it twice).
 *
 * @param mixed $input The submitted form fields.
 * @return array{url: string, widget_key: string, spots: string[]}
 */
function shopreco_sanitize_settings( $input ) {
	$input = is_array( $input ) ? $input : array();
	$saved = shopreco_settings();
	$code  = isset( $input['connection_code'] ) ? trim( (string) $input['connection_code'] ) : '';
	if ( '' !== $code ) {
		$connection = shopreco_parse_connection_code( $code );
		if ( null === $connection ) {
			add_settings_error( SHOPRECO_OPTION, 'shopreco-code', __( 'That connection code is not valid: copy it again from shopreco.', 'shopreco' ) );
			return $saved;
		}
		$input = array_merge( $input, $connection );
	}
	$clean = array(
		'url'        => shopreco_clean_url( isset( $input['url'] ) ? $input['url'] : '' ),
		'widget_key' => shopreco_clean_key( isset( $input['widget_key'] ) ? $input['widget_key'] : '' ),
		'spots'      => array_values( array_intersect( array_keys( shopreco_spots() ), (array) ( isset( $input['spots'] ) ? $input['spots'] : array() ) ) ),
	);
	$errors = array(
		'url'        => __( 'The shopreco URL must be a web address starting with https:// (or http://).', 'shopreco' ),
		'widget_key' => __( 'The widget key has only letters, digits, "_" and "-" (it starts with wk_).', 'shopreco' ),
	);
	foreach ( $errors as $field => $message ) {
		$typed = isset( $input[ $field ] ) && is_string( $input[ $field ] ) ? trim( $input[ $field ] ) : '';
		if ( '' !== $typed && '' === $clean[ $field ] ) {
			add_settings_error( SHOPRECO_OPTION, 'shopreco-' . $field, $message );
			$clean[ $field ] = $saved[ $field ];
		}
	}
	return $clean;
}

/**
 * The setting, its sections and fields (admin_init).
 */
function shopreco_register_settings() {
	register_setting(
		'shopreco',
		SHOPRECO_OPTION,
		array(
			'type'              => 'array',
			'sanitize_callback' => 'shopreco_sanitize_settings',
			'show_in_rest'      => false,
		)
	);
	add_settings_section( 'shopreco_connection', __( 'Connection', 'shopreco' ), 'shopreco_connection_intro', 'shopreco' );
	add_settings_field( 'shopreco_connection_code', __( 'Connection code', 'shopreco' ), 'shopreco_field_code', 'shopreco', 'shopreco_connection', array( 'label_for' => 'shopreco-connection-code' ) );
	add_settings_field( 'shopreco_url', __( 'shopreco URL', 'shopreco' ), 'shopreco_field_url', 'shopreco', 'shopreco_connection', array( 'label_for' => 'shopreco-url' ) );
	add_settings_field( 'shopreco_widget_key', __( 'Widget key', 'shopreco' ), 'shopreco_field_key', 'shopreco', 'shopreco_connection', array( 'label_for' => 'shopreco-widget-key' ) );
	add_settings_section( 'shopreco_pages', __( 'Pages', 'shopreco' ), 'shopreco_pages_intro', 'shopreco' );
	add_settings_field( 'shopreco_spots', __( 'Show widgets on', 'shopreco' ), 'shopreco_field_spots', 'shopreco', 'shopreco_pages' );
}

/**
 * The Settings > shopreco menu entry (admin_menu).
 */
function shopreco_add_settings_page() {
	add_options_page( __( 'shopreco', 'shopreco' ), __( 'shopreco', 'shopreco' ), 'manage_options', 'shopreco', 'shopreco_settings_page' );
}

/**
 * A "Settings" link under the plugin's name on the Plugins screen.
 *
 * @param string[] $links The plugin's action links.
 * @return string[]
 */
function shopreco_action_links( $links ) {
	$url = admin_url( 'options-general.php?page=shopreco' );
	array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'shopreco' ) . '</a>' );
	return $links;
}

/**
 * The settings page: only for users who may manage options; options.php checks the form's
 * nonce (settings_fields) and saves through the sanitize callback.
 */
function shopreco_settings_page() {
	if ( ! current_user_can( 'manage_options' ) ) {
		return;
	}
	$settings = shopreco_settings();
	echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1>';
	if ( shopreco_is_connected() ) {
		/* translators: %s: shopreco's URL. */
		echo '<p class="shopreco-status">' . esc_html( sprintf( __( 'Connected: the widgets load from %s.', 'shopreco' ), $settings['url'] ) ) . '</p>';
	} else {
		echo '<div class="notice notice-warning inline"><p>' . esc_html__( 'Not connected yet: no widget shows until the shopreco URL and the widget key are set.', 'shopreco' ) . '</p></div>';
	}
	echo '<form action="options.php" method="post">';
	settings_fields( 'shopreco' );
	do_settings_sections( 'shopreco' );
	submit_button();
	echo '</form></div>';
}

/**
 * The connection section's introduction.
 */
function shopreco_connection_intro() {
	echo '<p>' . esc_html__( 'Paste the connection code shopreco shows after connecting your store, or type the URL and the widget key yourself (the Widgets page of your shopreco dashboard shows both).', 'shopreco' ) . '</p>';
}

/**
 * The connection code field, filled in from a shopreco_code link parameter (nothing is saved
 * until the owner presses Save).
 */
function shopreco_field_code() {
	$code = isset( $_GET['shopreco_code'] ) ? sanitize_text_field( wp_unslash( $_GET['shopreco_code'] ) ) : ''; // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- only fills in the form.
	echo '<textarea id="shopreco-connection-code" name="' . esc_attr( SHOPRECO_OPTION ) . '[connection_code]" rows="3" class="large-text code">' . esc_textarea( $code ) . '</textarea>';
	echo '<p class="description">' . esc_html__( 'Fills in both fields below when you save.', 'shopreco' ) . '</p>';
}

/**
 * The shopreco URL field.
 */
function shopreco_field_url() {
	$settings = shopreco_settings();
	echo '<input type="url" id="shopreco-url" name="' . esc_attr( SHOPRECO_OPTION ) . '[url]" value="' . esc_attr( $settings['url'] ) . '" class="regular-text" placeholder="https://reco.example.com">';
}

/**
 * The widget key field.
 */
function shopreco_field_key() {
	$settings = shopreco_settings();
	echo '<input type="text" id="shopreco-widget-key" name="' . esc_attr( SHOPRECO_OPTION ) . '[widget_key]" value="' . esc_attr( $settings['widget_key'] ) . '" class="regular-text code" placeholder="wk_..." autocomplete="off">';
}

/**
 * The pages section's introduction.
 */
function shopreco_pages_intro() {
	echo '<p>' . esc_html__( 'Anywhere else, add the "shopreco recommendations" block or the [shopreco] shortcode.', 'shopreco' ) . '</p>';
}

/**
 * One checkbox per WooCommerce page.
 */
function shopreco_field_spots() {
	$settings = shopreco_settings();
	echo '<fieldset>';
	foreach ( shopreco_spots() as $spot => $label ) {
		echo '<label><input type="checkbox" name="' . esc_attr( SHOPRECO_OPTION ) . '[spots][]" value="' . esc_attr( $spot ) . '"'
			. checked( in_array( $spot, $settings['spots'], true ), true, false ) . '> ' . esc_html( $label ) . '</label><br>';
	}
	echo '</fieldset>';
}
