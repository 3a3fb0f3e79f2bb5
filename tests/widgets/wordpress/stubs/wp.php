<?php
/**
 * Minimal WordPress and WooCommerce for rendering the shopreco plugin with PHP's CLI: hooks,
 * options, shortcodes, scripts, the Settings API, blocks, escaping, and a product, cart and
 * orders, all from the JSON state driver.php reads. The functions follow WordPress's
 * documented behaviour where the plugin depends on it (escaping, sanitize_option filters,
 * script tags and the script_loader_tag filter, Settings API markup, nonces); the rest is
 * as small as the plugin allows.
 */

define( 'ABSPATH', __DIR__ . '/' );
define( 'WP_STUB_VERSION', '6.8' );

/** Raised by wp_die(): driver.php reports the message. */
final class WP_Stub_Die extends Exception {
}

/** Everything the stubs record. */
final class WP_Stub {
	/** @var array The state driver.php was given. */
	public static $state = array();
	/** @var array tag => priority => list of [callback, accepted args]. */
	public static $filters = array();
	/** @var array Option name => value. */
	public static $options = array();
	/** @var array Shortcode tag => callback. */
	public static $shortcodes = array();
	/** @var array Handle => [src, deps, ver, args]. */
	public static $scripts = array();
	/** @var string[] Enqueued handles, in order. */
	public static $queue = array();
	/** @var string[] Handles printed already. */
	public static $done = array();
	/** @var array Option name => [group, args]. */
	public static $settings = array();
	/** @var array Page => section id => [title, callback]. */
	public static $sections = array();
	/** @var array Page => section id => field id => [title, callback, args]. */
	public static $fields = array();
	/** @var array Menu slug => [page title, capability, callback]. */
	public static $pages = array();
	/** @var array Block name => [metadata, args]. */
	public static $blocks = array();
	/** @var array Settings errors. */
	public static $errors = array();

	/** A value of the state, or $default. */
	public static function get( $key, $default = null ) {
		return array_key_exists( $key, self::$state ) ? self::$state[ $key ] : $default;
	}
}

// Hooks.

function add_filter( $tag, $callback, $priority = 10, $accepted_args = 1 ) {
	WP_Stub::$filters[ $tag ][ $priority ][] = array( $callback, $accepted_args );
	return true;
}

function add_action( $tag, $callback, $priority = 10, $accepted_args = 1 ) {
	return add_filter( $tag, $callback, $priority, $accepted_args );
}

function has_filter( $tag, $callback = false ) {
	foreach ( WP_Stub::$filters[ $tag ] ?? array() as $priority => $callbacks ) {
		foreach ( $callbacks as $entry ) {
			if ( false === $callback || $entry[0] === $callback ) {
				return false === $callback ? true : $priority;
			}
		}
	}
	return false;
}

function has_action( $tag, $callback = false ) {
	return has_filter( $tag, $callback );
}

function remove_action( $tag, $callback, $priority = 10 ) {
	foreach ( WP_Stub::$filters[ $tag ][ $priority ] ?? array() as $i => $entry ) {
		if ( $entry[0] === $callback ) {
			unset( WP_Stub::$filters[ $tag ][ $priority ][ $i ] );
			return true;
		}
	}
	return false;
}

function apply_filters( $tag, $value, ...$args ) {
	$callbacks = WP_Stub::$filters[ $tag ] ?? array();
	ksort( $callbacks );
	foreach ( $callbacks as $entries ) {
		foreach ( $entries as $entry ) {
			$value = call_user_func_array( $entry[0], array_slice( array_merge( array( $value ), $args ), 0, $entry[1] ) );
		}
	}
	return $value;
}

function do_action( $tag, ...$args ) {
	$args      = $args ? $args : array( '' ); // WordPress passes one empty string.
	$callbacks = WP_Stub::$filters[ $tag ] ?? array();
	ksort( $callbacks );
	foreach ( $callbacks as $entries ) {
		foreach ( $entries as $entry ) {
			call_user_func_array( $entry[0], array_slice( $args, 0, $entry[1] ) );
		}
	}
}

// Options.

function get_option( $name, $default = false ) {
	return array_key_exists( $name, WP_Stub::$options ) ? WP_Stub::$options[ $name ] : $default;
}

function sanitize_option( $name, $value ) {
	return apply_filters( "sanitize_option_{$name}", $value, $name, $value );
}

function update_option( $name, $value ) {
	WP_Stub::$options[ $name ] = sanitize_option( $name, $value );
	return true;
}

function add_option( $name, $value = '' ) {
	return array_key_exists( $name, WP_Stub::$options ) ? false : update_option( $name, $value );
}

function delete_option( $name ) {
	$had = array_key_exists( $name, WP_Stub::$options );
	unset( WP_Stub::$options[ $name ] );
	return $had;
}

// Escaping and sanitizing (WordPress's rules, minus its multibyte and entity details).

function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8', false );
}

function esc_attr( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8', false );
}

function esc_textarea( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}

function wp_allowed_protocols() {
	return array( 'http', 'https', 'ftp', 'ftps', 'mailto', 'news', 'irc', 'gopher', 'nntp', 'feed', 'telnet', 'mms', 'rtsp', 'sms', 'svn', 'tel', 'fax', 'xmpp', 'webcal', 'urn' );
}

function esc_url( $url, $protocols = null, $context = 'display' ) {
	$url = str_replace( ' ', '%20', ltrim( (string) $url ) );
	$url = preg_replace( '|[^a-z0-9-~+_.?#=!&;,/:%@$\|*\'()\[\]\x80-\xff]|i', '', $url );
	if ( '' === $url ) {
		return '';
	}
	$url = str_ireplace( array( '%0d', '%0a' ), '', $url );
	$url = str_replace( ';//', '://', $url );
	if ( false === strpos( $url, ':' ) && ! in_array( $url[0], array( '/', '#', '?' ), true ) ) {
		$url = 'http://' . $url;
	}
	$colon = strpos( $url, ':' );
	$slash = strcspn( $url, '/?#' );
	if ( false !== $colon && $colon < $slash ) {
		$scheme = strtolower( substr( $url, 0, $colon ) );
		if ( ! in_array( $scheme, $protocols ?? wp_allowed_protocols(), true ) ) {
			return '';
		}
	}
	if ( 'display' === $context ) {
		$url = preg_replace( '/&(?!#?\w+;)/', '&#038;', $url );
		$url = str_replace( "'", '&#039;', $url );
	}
	return $url;
}

function esc_url_raw( $url, $protocols = null ) {
	return esc_url( $url, $protocols, 'db' );
}

function __( $text, $domain = 'default' ) {
	return $text;
}

function esc_html__( $text, $domain = 'default' ) {
	return esc_html( $text );
}

function esc_attr__( $text, $domain = 'default' ) {
	return esc_attr( $text );
}

function esc_html_e( $text, $domain = 'default' ) {
	echo esc_html( $text );
}

function sanitize_text_field( $text ) {
	$text = strip_tags( (string) $text );
	$text = preg_replace( '/[\r\n\t ]+/', ' ', $text );
	$text = preg_replace( '/%[a-f0-9]{2}/i', '', $text );
	return trim( $text );
}

function sanitize_key( $key ) {
	return preg_replace( '/[^a-z0-9_\-]/', '', strtolower( (string) $key ) );
}

function absint( $value ) {
	return abs( (int) $value );
}

function wp_unslash( $value ) {
	return is_array( $value ) ? array_map( 'wp_unslash', $value ) : ( is_string( $value ) ? stripslashes( $value ) : $value );
}

function wp_slash( $value ) {
	return is_array( $value ) ? array_map( 'wp_slash', $value ) : ( is_string( $value ) ? addslashes( $value ) : $value );
}

function wp_parse_url( $url, $component = -1 ) {
	return parse_url( $url, $component );
}

function untrailingslashit( $text ) {
	return rtrim( (string) $text, '/\\' );
}

function trailingslashit( $text ) {
	return untrailingslashit( $text ) . '/';
}

function wp_json_encode( $data, $flags = 0 ) {
	return json_encode( $data, $flags );
}

function checked( $checked, $current = true, $display = true ) {
	$result = (string) $checked === (string) $current ? " checked='checked'" : '';
	if ( $display ) {
		echo $result;
	}
	return $result;
}

function wp_die( $message = '' ) {
	throw new WP_Stub_Die( (string) $message );
}

// Users, requests and conditionals.

function is_user_logged_in() {
	return get_current_user_id() > 0;
}

function get_current_user_id() {
	return (int) WP_Stub::get( 'user', 0 );
}

function current_user_can( $capability ) {
	return in_array( $capability, WP_Stub::get( 'caps', array() ), true );
}

function wp_stub_is( $name ) {
	return (bool) ( WP_Stub::get( 'is', array() )[ $name ] ?? false );
}

function is_admin() {
	return (bool) WP_Stub::get( 'admin', false );
}

function is_multisite() {
	return false;
}

function is_front_page() {
	return wp_stub_is( 'front_page' );
}

function is_paged() {
	return wp_stub_is( 'paged' );
}

function is_search() {
	return wp_stub_is( 'search' );
}

function get_locale() {
	return WP_Stub::get( 'locale', 'en_US' );
}

function get_post_type( $post = null ) {
	return WP_Stub::get( 'post_type', false );
}

function get_the_ID() {
	return WP_Stub::get( 'post_id', false );
}

function get_query_var( $name, $default = '' ) {
	return WP_Stub::get( 'query_vars', array() )[ $name ] ?? $default;
}

function admin_url( $path = '' ) {
	return 'http://shop.test/wp-admin/' . ltrim( $path, '/' );
}

function plugin_basename( $file ) {
	return basename( dirname( $file ) ) . '/' . basename( $file );
}

// Nonces.

function wp_create_nonce( $action = -1 ) {
	return substr( hash_hmac( 'sha256', $action . '|' . get_current_user_id(), 'stub-nonce-salt' ), 0, 10 );
}

function wp_verify_nonce( $nonce, $action = -1 ) {
	return is_string( $nonce ) && hash_equals( wp_create_nonce( $action ), $nonce ) ? 1 : false;
}

function wp_nonce_field( $action = -1, $name = '_wpnonce', $referer = true, $display = true ) {
	$field = '<input type="hidden" id="' . esc_attr( $name ) . '" name="' . esc_attr( $name ) . '" value="' . esc_attr( wp_create_nonce( $action ) ) . '" />';
	if ( $referer ) {
		$field .= '<input type="hidden" name="_wp_http_referer" value="/wp-admin/options-general.php?page=shopreco" />';
	}
	if ( $display ) {
		echo $field;
	}
	return $field;
}

function check_admin_referer( $action = -1, $query_arg = '_wpnonce' ) {
	$nonce = isset( $_REQUEST[ $query_arg ] ) ? wp_unslash( $_REQUEST[ $query_arg ] ) : '';
	if ( ! wp_verify_nonce( $nonce, $action ) ) {
		wp_die( 'The link you followed has expired.' );
	}
	return 1;
}

// Shortcodes.

function add_shortcode( $tag, $callback ) {
	WP_Stub::$shortcodes[ $tag ] = $callback;
}

function shortcode_atts( $pairs, $atts, $shortcode = '' ) {
	$atts = (array) $atts;
	$out  = array();
	foreach ( $pairs as $name => $default ) {
		$out[ $name ] = array_key_exists( $name, $atts ) ? $atts[ $name ] : $default;
	}
	return $shortcode ? apply_filters( "shortcode_atts_{$shortcode}", $out, $pairs, $atts, $shortcode ) : $out;
}

function shortcode_parse_atts( $text ) {
	$atts = array();
	preg_match_all( '/([\w-]+)\s*=\s*"([^"]*)"|([\w-]+)\s*=\s*\'([^\']*)\'|([\w-]+)\s*=\s*([^\s\'"]+)/', $text, $found, PREG_SET_ORDER );
	foreach ( $found as $m ) {
		if ( '' !== $m[1] ) {
			$atts[ strtolower( $m[1] ) ] = $m[2];
		} elseif ( '' !== ( $m[3] ?? '' ) ) {
			$atts[ strtolower( $m[3] ) ] = $m[4];
		} else {
			$atts[ strtolower( $m[5] ) ] = $m[6];
		}
	}
	return $atts;
}

function do_shortcode( $content ) {
	return preg_replace_callback(
		'/\[([\w-]+)([^\]]*)\]/',
		function ( $m ) {
			if ( ! isset( WP_Stub::$shortcodes[ $m[1] ] ) ) {
				return $m[0];
			}
			$atts = trim( $m[2] ) === '' ? '' : shortcode_parse_atts( $m[2] );
			return call_user_func( WP_Stub::$shortcodes[ $m[1] ], $atts, null, $m[1] );
		},
		$content
	);
}

// Scripts (WordPress 6.3+ tags: src, id, the loading strategy; a handle without a source
// prints its inline scripts only).

function wp_register_script( $handle, $src, $deps = array(), $ver = false, $args = array() ) {
	if ( isset( WP_Stub::$scripts[ $handle ] ) ) {
		return false;
	}
	WP_Stub::$scripts[ $handle ] = array( $src, $deps, $ver, is_array( $args ) ? $args : array( 'in_footer' => (bool) $args ) );
	return true;
}

function wp_enqueue_script( $handle, $src = '', $deps = array(), $ver = false, $args = array() ) {
	if ( $src ) {
		wp_register_script( $handle, $src, $deps, $ver, $args );
	}
	if ( isset( WP_Stub::$scripts[ $handle ] ) && ! in_array( $handle, WP_Stub::$queue, true ) ) {
		WP_Stub::$queue[] = $handle;
	}
}

function wp_add_inline_script( $handle, $data, $position = 'after' ) {
	if ( ! isset( WP_Stub::$scripts[ $handle ] ) ) {
		return false;
	}
	WP_Stub::$scripts[ $handle ][4][ $position ][] = $data;
	return true;
}

function wp_script_is( $handle, $status = 'enqueued' ) {
	return 'registered' === $status ? isset( WP_Stub::$scripts[ $handle ] ) : in_array( $handle, WP_Stub::$queue, true );
}

function wp_print_footer_scripts() {
	foreach ( WP_Stub::$queue as $handle ) {
		if ( in_array( $handle, WP_Stub::$done, true ) ) {
			continue;
		}
		list( $src, , $ver, $args ) = WP_Stub::$scripts[ $handle ];
		$inline                     = WP_Stub::$scripts[ $handle ][4] ?? array();
		foreach ( array( 'before', 'after' ) as $position ) {
			if ( ! $src && isset( $inline[ $position ] ) ) { // an inline script's handle
				echo '<script id="' . esc_attr( "$handle-js-$position" ) . "\">\n" . implode( "\n", $inline[ $position ] ) . "\n</script>\n";
			}
		}
		WP_Stub::$done[] = $handle;
		if ( ! $src ) {
			continue;
		}
		if ( null !== $ver ) {
			$src .= ( false === strpos( $src, '?' ) ? '?' : '&' ) . 'ver=' . ( false === $ver ? WP_STUB_VERSION : $ver );
		}
		$src  = esc_url( $src );
		$tag  = '<script src="' . $src . '" id="' . esc_attr( $handle ) . '-js"';
		$tag .= empty( $args['strategy'] ) ? '' : ' ' . $args['strategy'] . ' data-wp-strategy="' . esc_attr( $args['strategy'] ) . '"';
		echo apply_filters( 'script_loader_tag', $tag . "></script>\n", $handle, $src );
	}
}

// The Settings API and admin pages.

function register_setting( $group, $name, $args = array() ) {
	WP_Stub::$settings[ $name ] = array( $group, $args );
	if ( ! empty( $args['sanitize_callback'] ) ) {
		add_filter( "sanitize_option_{$name}", $args['sanitize_callback'] );
	}
}

function add_settings_section( $id, $title, $callback, $page ) {
	WP_Stub::$sections[ $page ][ $id ] = array( $title, $callback );
}

function add_settings_field( $id, $title, $callback, $page, $section = 'default', $args = array() ) {
	WP_Stub::$fields[ $page ][ $section ][ $id ] = array( $title, $callback, $args );
}

function add_settings_error( $setting, $code, $message, $type = 'error' ) {
	WP_Stub::$errors[] = array(
		'setting' => $setting,
		'code'    => $code,
		'message' => $message,
		'type'    => $type,
	);
}

function settings_fields( $group ) {
	echo "<input type='hidden' name='option_page' value='" . esc_attr( $group ) . "' />";
	echo '<input type="hidden" name="action" value="update" />';
	wp_nonce_field( "$group-options" );
}

function do_settings_sections( $page ) {
	foreach ( WP_Stub::$sections[ $page ] ?? array() as $id => $section ) {
		if ( $section[0] ) {
			echo '<h2>' . $section[0] . "</h2>\n";
		}
		if ( $section[1] ) {
			call_user_func( $section[1], array( 'id' => $id, 'title' => $section[0] ) );
		}
		echo '<table class="form-table" role="presentation">';
		foreach ( WP_Stub::$fields[ $page ][ $id ] ?? array() as $field ) {
			list( $title, $callback, $args ) = $field;
			$label = empty( $args['label_for'] ) ? $title : '<label for="' . esc_attr( $args['label_for'] ) . '">' . $title . '</label>';
			echo '<tr><th scope="row">' . $label . '</th><td>';
			call_user_func( $callback, $args );
			echo '</td></tr>';
		}
		echo '</table>';
	}
}

function submit_button( $text = null ) {
	echo '<p class="submit"><input type="submit" name="submit" id="submit" class="button button-primary" value="' . esc_attr( $text ?? 'Save Changes' ) . '" /></p>';
}

function add_options_page( $page_title, $menu_title, $capability, $menu_slug, $callback = '' ) {
	WP_Stub::$pages[ $menu_slug ] = array( $page_title, $capability, $callback );
	return 'settings_page_' . $menu_slug;
}

function get_admin_page_title() {
	return WP_Stub::$pages[ $_GET['page'] ?? '' ][0] ?? '';
}

// Blocks: block.json's name and attributes, the render callback.

function register_block_type( $block, $args = array() ) {
	$metadata = array();
	if ( is_dir( $block ) ) {
		$metadata = json_decode( file_get_contents( $block . '/block.json' ), true );
		$block    = $metadata['name'];
	}
	WP_Stub::$blocks[ $block ] = array( $metadata, $args );
	return true;
}

/** The block's attributes as WordPress prepares them: a missing or invalid one is its default. */
function wp_stub_render_block( $name, $attributes ) {
	list( $metadata, $args ) = WP_Stub::$blocks[ $name ];
	$prepared = array();
	foreach ( $metadata['attributes'] ?? array() as $key => $schema ) {
		$value = $attributes[ $key ] ?? null;
		$types = array(
			'string'  => 'is_string',
			'integer' => 'is_int',
			'number'  => 'is_numeric',
			'boolean' => 'is_bool',
		);
		$valid = null !== $value && call_user_func( $types[ $schema['type'] ], $value )
			&& ( ! isset( $schema['enum'] ) || in_array( $value, $schema['enum'], true ) );
		if ( $valid ) {
			$prepared[ $key ] = $value;
		} elseif ( array_key_exists( 'default', $schema ) ) {
			$prepared[ $key ] = $schema['default'];
		}
	}
	return call_user_func( $args['render_callback'], $prepared, '', null );
}

// WooCommerce.

/** A product: id, name, price, type. */
final class WC_Product {
	private $data;

	public function __construct( array $data ) {
		$this->data = $data;
	}

	public function get_id() {
		return (int) $this->data['id'];
	}

	public function get_name() {
		return (string) ( $this->data['name'] ?? 'Product' );
	}

	public function get_price() {
		return (string) ( $this->data['price'] ?? '' );
	}

	public function is_type( $type ) {
		return in_array( $this->data['type'] ?? 'simple', (array) $type, true );
	}
}

/** A line of an order. */
final class WC_Order_Item_Product {
	private $product_id;
	private $variation_id;

	public function __construct( $product_id, $variation_id = 0 ) {
		$this->product_id   = (int) $product_id;
		$this->variation_id = (int) $variation_id;
	}

	public function get_product_id() {
		return $this->product_id;
	}

	public function get_variation_id() {
		return $this->variation_id;
	}
}

/** An order: id, customer, billing e-mail, key and lines. */
final class WC_Order {
	private $id;
	private $data;

	public function __construct( $id, array $data ) {
		$this->id   = (int) $id;
		$this->data = $data;
	}

	public function get_id() {
		return $this->id;
	}

	public function get_items() {
		$items = array();
		foreach ( $this->data['items'] ?? array() as $n => $line ) {
			$line                   = (array) $line;
			$items[ 100 + (int) $n ] = new WC_Order_Item_Product( $line[0], $line[1] ?? 0 );
		}
		return $items;
	}

	public function get_customer_id() {
		return (int) ( $this->data['customer_id'] ?? 0 );
	}

	public function get_billing_email() {
		return (string) ( $this->data['email'] ?? '' );
	}

	public function get_order_key() {
		return (string) ( $this->data['key'] ?? '' );
	}
}

/** The cart: product id => cart item. */
final class WC_Cart {
	public function get_cart() {
		$cart = array();
		foreach ( WP_Stub::get( 'cart', array() ) as $n => $line ) {
			$line                = (array) $line;
			$cart[ md5( "$n" ) ] = array(
				'product_id'   => (int) $line[0],
				'variation_id' => (int) ( $line[1] ?? 0 ),
				'quantity'     => 1,
			);
		}
		return $cart;
	}
}

/** WooCommerce's main object, with the session's cart. */
final class WooCommerce {
	/** @var WC_Cart|null */
	public $cart;

	public function __construct() {
		$this->cart = null === WP_Stub::get( 'cart' ) ? null : new WC_Cart();
	}
}

function WC() {
	static $instance = null;
	return $instance ? $instance : ( $instance = new WooCommerce() );
}

function wc_get_product( $id ) {
	$product = WP_Stub::get( 'product' );
	return $product && (int) $product['id'] === (int) $id ? new WC_Product( $product ) : false;
}

function wc_get_order( $id ) {
	$orders = WP_Stub::get( 'orders', array() );
	return isset( $orders[ (string) $id ] ) ? new WC_Order( $id, $orders[ (string) $id ] ) : false;
}

function wc_get_price_to_display( $product ) {
	return '' === $product->get_price() ? '' : (float) $product->get_price();
}

function get_woocommerce_currency() {
	return WP_Stub::get( 'currency', 'USD' );
}

function is_product() {
	return wp_stub_is( 'product' );
}

function is_shop() {
	return wp_stub_is( 'shop' );
}

function is_order_received_page() {
	return wp_stub_is( 'order_received_page' );
}

/** Loads driver.php's state: options, the request (slashed, as WordPress does), the product. */
function wp_stub_load( array $state ) {
	WP_Stub::$state   = $state;
	WP_Stub::$options = $state['options'] ?? array();
	$_GET             = wp_slash( $state['get'] ?? array() );
	$_POST            = wp_slash( $state['post'] ?? array() );
	$_REQUEST         = array_merge( $_GET, $_POST );
	if ( isset( $state['product'] ) && wp_stub_is( 'product' ) ) {
		$GLOBALS['product'] = new WC_Product( $state['product'] );
	}
	add_action( 'wp_footer', 'wp_print_footer_scripts', 20 );
}
